import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { DisposableRedis, sendMention, slowEchoFlow } from "./support.js";

/**
 * Redis (queue state only) is SIGKILLed and restarted empty while sessions are queued, running
 * and being delivered. Postgres still knows every delivery and session: the reconciler
 * re-enqueues what the queue lost, and every mention is answered exactly once.
 */
const BEFORE = 24;
const AFTER = 8;

let database: TestDatabase;
let redis: DisposableRedis;
let github: FakeGitHub;
let bot: TestBot;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await new DisposableRedis().start();
  github = await new FakeGitHub().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [slowEchoFlow(1500)],
    env: {
      REDIS_URL: redis.url,
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      ...UNLIMITED_WRITES,
      SESSION_CONCURRENCY: "4",
      RECONCILE_INTERVAL_MS: "500",
      RECONCILE_GRACE_MS: "2000",
    },
  });
});

afterAll(async () => {
  await bot?.stop();
  await redis?.kill();
  await github?.stop();
  await database?.drop();
});

describe("a Redis restart mid-run", () => {
  it("loses no session: every mention before and after is answered exactly once", async () => {
    for (let i = 0; i < BEFORE; i++) expect(await sendMention(bot.baseUrl, i)).toBe(202);
    const replies = () => github.comments.filter((c) => c.body.includes("forgebot:reply"));
    // Some sessions done, most still queued or running: the restart hits every phase.
    await waitFor("the first replies", () => replies().length >= 2, 30_000);
    await redis.kill();
    expect(replies().length).toBeLessThan(BEFORE);
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();

    // GitHub redelivers a failed delivery; here the sender retries a 5xx for up to 10 s.
    for (let i = BEFORE; i < BEFORE + AFTER; i++) expect(await sendMention(bot.baseUrl, i, { retryUntil: Date.now() + 10_000 })).toBe(202);

    await waitFor("every reply", () => replies().length >= BEFORE + AFTER, 60_000);
    await waitForQuiet(bot);
    const bodies = replies().map((c) => c.body);
    for (let i = 0; i < BEFORE + AFTER; i++) expect([i, bodies.filter((b) => b.includes(`Echo tag-${i}\n`)).length]).toEqual([i, 1]);
    expect(bodies).toHaveLength(BEFORE + AFTER);
    expect(github.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
    const { rows } = await database.db.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM sessions GROUP BY status");
    expect(rows).toEqual([{ status: "finished", n: BEFORE + AFTER }]);
    expect((await fetch(`${bot.baseUrl}/healthz`)).status).toBe(200);
  }, 90_000);
});
