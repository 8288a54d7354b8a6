import { afterAll, afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { helpFlow } from "../../../src/agent/flows/help.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";

/**
 * Queue state belongs to one database (src/queue/namespace.ts). Job ids are Postgres serial
 * ids: against one Redis, a second database (or one restored to an earlier point) hands out ids
 * whose jobs Redis still remembers as completed. Each mention must still be answered once.
 */
const databases: TestDatabase[] = [];
let fake: FakeGitHub;
let bot: TestBot | null = null;
let comment = 7_700_000;
// One QUEUE_PREFIX for the whole file: every database meets the same Redis namespace root.
const prefix = uniquePrefix();

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
});
afterEach(async () => {
  await bot?.stop();
  bot = null;
});
afterAll(async () => {
  for (const d of databases) await d.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

async function start(database: TestDatabase): Promise<TestBot> {
  bot = await startTestBot({ databaseUrl: database.url, flows: [helpFlow], env: { QUEUE_PREFIX: prefix, LOG_LEVEL: "silent" } });
  return bot;
}

/** One `@forgebot help` mention on its own issue, answered: resolves with that issue's replies. */
async function mentionAnswered(b: TestBot, issue: number): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = ++comment;
    p.issue.number = issue;
    p.comment.body = "@forgebot help";
  });
  const body = JSON.stringify(payload);
  const res = await fetch(`${b.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `identity-${comment}`, body), body });
  expect(res.status).toBe(202);
  await waitFor(`the reply on issue ${issue}`, () => fake.live().some((c) => c.number === issue && c.body.includes("forgebot:reply")), 20_000);
  return fake.live().filter((c) => c.number === issue && c.body.includes("forgebot:reply")).length;
}

async function namespaceOf(database: TestDatabase): Promise<string> {
  const { rows } = await database.db.query<{ queue_namespace: string }>("SELECT queue_namespace FROM installation");
  return rows[0]!.queue_namespace;
}

describe("queue identity", () => {
  it("two databases in turn against one Redis: each one's mentions are answered once", async () => {
    const first = await createTestDatabase();
    const second = await createTestDatabase();
    databases.push(first, second);
    expect(await namespaceOf(first)).not.toBe(await namespaceOf(second));

    const a = await start(first);
    expect(await mentionAnswered(a, 1)).toBe(1);
    expect(await mentionAnswered(a, 2)).toBe(1);
    await a.stop();
    bot = null;

    // The second database's first delivery and session get ids 1 and 1 again.
    const b = await start(second);
    expect(await mentionAnswered(b, 3)).toBe(1);
    expect(await mentionAnswered(b, 4)).toBe(1);
    const { rows } = await second.db.query<{ id: number }>("SELECT id FROM webhook_deliveries ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  });

  it("a database set back behind the queue (a restore) gets a new namespace, and its mentions are answered", async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const a = await start(database);
    for (const issue of [11, 12, 13]) expect(await mentionAnswered(a, issue)).toBe(1);
    await a.stop();
    bot = null;

    // As if restored from a backup taken after the first mention: later rows and ids are gone.
    const before = await namespaceOf(database);
    await database.db.query("DELETE FROM webhook_deliveries WHERE id > 1");
    await database.db.query("DELETE FROM sessions WHERE id > 1");
    await database.db.query("SELECT setval('webhook_deliveries_id_seq', 1), setval('sessions_id_seq', 1)");

    const b = await start(database);
    expect(await namespaceOf(database)).not.toBe(before);
    expect(await mentionAnswered(b, 14)).toBe(1);
    const { rows } = await database.db.query<{ id: number }>("SELECT id FROM webhook_deliveries ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  });
});
