import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { signedHeaders } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";

/**
 * 2 000 signed deliveries at concurrency 50 on loopback: 400 distinct comments, each redelivered
 * twice under its own delivery id and sent twice more under new delivery ids, shuffled. Every
 * request is acknowledged without an error and each distinct comment gets one session, one reply.
 * The write budget is raised out of the way (this is not a throttling test).
 */
const TOTAL = 2000;
const UNIQUE = 400;
const CONCURRENCY = 50;
const THREADS = 80;

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      ...UNLIMITED_WRITES,
      GITLAB_DELETES_PER_MINUTE: "100000",
      LIFECYCLE_CONCURRENCY: "50",
      SESSION_CONCURRENCY: "50",
    },
  });
});

afterAll(async () => {
  await bot?.stop();
  await github?.stop();
  await database?.drop();
});

type Delivery = { id: string; body: string };

function deliveries(): Delivery[] {
  const template = githubExample("issue_comment", "created");
  const unique: Delivery[] = Array.from({ length: UNIQUE }, (_, i) => {
    const payload = structuredClone(template);
    payload.comment.id = 700_000 + i;
    payload.comment.body = "@forgebot help";
    payload.comment.created_at = new Date().toISOString();
    payload.issue.number = 1 + (i % THREADS);
    return { id: `load-${i}`, body: JSON.stringify(payload) };
  });
  const redelivered = [...unique, ...unique];
  const renamed = [...unique, ...unique].map((d, i) => ({ id: `load-copy-${i}`, body: d.body }));
  // A fixed shuffle: copies arrive interleaved with (and sometimes before) their original.
  const all = [...unique, ...redelivered, ...renamed];
  let seed = 42;
  for (let i = all.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all;
}

describe(`${TOTAL} signed deliveries at concurrency ${CONCURRENCY}`, () => {
  it("are all acknowledged without an error and give one session and one reply per distinct comment", async () => {
    const all = deliveries();
    expect(all).toHaveLength(TOTAL);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let next = 0;
    const client = async () => {
      while (next < all.length) {
        const d = all[next++]!;
        try {
          const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", d.id, d.body), body: d.body });
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        } catch (err: unknown) {
          failures.push(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    expect(failures).toEqual([]);
    expect(Object.fromEntries(statuses)).toEqual({ 202: TOTAL });

    const counts = async () =>
      (await database.db.query<{ sessions: number; finished: number; replied: number }>(
        "SELECT count(*)::int AS sessions, count(*) FILTER (WHERE status = 'finished')::int AS finished, count(reply_note_id)::int AS replied FROM sessions",
      )).rows[0]!;
    await waitFor("every session answered", async () => (await counts()).replied === UNIQUE, 60_000);
    expect(await counts()).toEqual({ sessions: UNIQUE, finished: UNIQUE, replied: UNIQUE });
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM (SELECT trigger_comment_id FROM sessions GROUP BY 1 HAVING count(*) > 1) d");
    expect(rows[0]!.n).toBe(0);
    const deliveryRows = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries");
    expect(deliveryRows.rows[0]!.n).toBe(UNIQUE * 3);
    expect(github.live().filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(UNIQUE);
    expect(github.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
  }, 120_000);
});
