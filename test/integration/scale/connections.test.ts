import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { Flow } from "../../../src/sessions/flow.js";
import { startTestBot, UNLIMITED_WRITES, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";

/**
 * A process holds at most DATABASE_POOL_MAX Postgres connections, plus the feature flags'
 * LISTEN, whatever its concurrency — on Redis and with the queue on Postgres.
 */
const POOL_MAX = 5;
let database: TestDatabase;
let fake: FakeGitHub;
let bot: TestBot | null = null;
let comment = 7_800_000;

/** Holds each session a moment, so many run at once. */
const slowFlow: Flow = {
  name: "chat",
  async run(session) {
    await new Promise((r) => setTimeout(r, 150));
    return { kind: "finished", markdown: `done: ${session.prompt}` };
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});
beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
});
afterEach(async () => {
  await bot?.stop();
  bot = null;
});

/** The bot's connections to the test database, by application_name (the test's own pool is apart). */
async function connections(): Promise<{ pool: number; listen: number }> {
  const { rows } = await database.db.query<{ application_name: string; n: number }>(
    "SELECT application_name, count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'forgebot%' AND application_name <> 'forgebot-test' GROUP BY 1",
    [database.name],
  );
  const of = (name: string) => rows.find((r) => r.application_name === name)?.n ?? 0;
  return { pool: of("forgebot"), listen: of("forgebot-flags") };
}

describe.each([
  ["Redis", "redis"],
  ["the Postgres queue backend", "postgres"],
] as const)("with the queue on %s", (_name, queue) => {
  it(`40 concurrent sessions at concurrency 20/10 never take more than DATABASE_POOL_MAX=${POOL_MAX} connections (+1 LISTEN)`, async () => {
    bot = await startTestBot({
      databaseUrl: database.url,
      queue,
      flows: [slowFlow],
      env: { ...UNLIMITED_WRITES, DATABASE_POOL_MAX: String(POOL_MAX), LIFECYCLE_CONCURRENCY: "20", SESSION_CONCURRENCY: "10" },
    });
    const b = bot;
    let peak = { pool: 0, listen: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await connections();
        peak = { pool: Math.max(peak.pool, now.pool), listen: Math.max(peak.listen, now.listen) };
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const payload = githubExample("issue_comment", "created", (p) => {
          p.comment.id = ++comment;
          p.issue.number = 100 + i;
          p.comment.body = `@forgebot question ${i}`;
        });
        const body = JSON.stringify(payload);
        const res = await fetch(`${b.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `conn-${queue}-${comment}`, body), body });
        expect(res.status).toBe(202);
      }),
    );
    await waitFor("40 replies", () => fake.live().filter((c) => c.body.includes("forgebot:reply")).length === 40, 60_000);
    sampling = false;
    await sampler;
    const replies = fake.live().filter((c) => c.body.includes("forgebot:reply"));
    expect(new Set(replies.map((c) => c.number)).size).toBe(40);
    expect(peak.pool).toBeGreaterThan(0);
    expect(peak.pool).toBeLessThanOrEqual(POOL_MAX);
    expect(peak.listen).toBeLessThanOrEqual(1);
  }, 90_000);
});
