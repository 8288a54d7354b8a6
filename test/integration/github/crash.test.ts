import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type RecordedRequest } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";
import { waitForQuiet } from "../../helpers/quiet.js";

/**
 * `forgebot web` and `forgebot worker` as separate processes sharing one queue; the worker is
 * SIGKILLed right after GitHub applied one of its writes and before it could record it.
 */
let database: TestDatabase;
let fake: FakeGitHub;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  env = testEnv({ databaseUrl: database.url, env: { GHE_HOST: fake.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix(), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn" } });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await fake.stop();
  await database.drop();
});

const killPoints = [
  ["between deleting the started note and replying", (r: RecordedRequest) => r.method === "DELETE"],
  ["right after GitHub stored its reply, before it was recorded", (r: RecordedRequest) => r.method === "POST" && String((r.body as { body?: string })?.body).includes("forgebot:reply")],
] as const;

describe.each(killPoints)("a worker killed %s", (_when, isKillPoint) => {
  it("leads to exactly one reply after a new worker starts", async () => {
    fake.comments.length = 0;
    fake.interceptors.length = 0;
    await database.db.query("TRUNCATE sessions, webhook_deliveries CASCADE");
    const first = spawnForgebot(["worker"], env);
    workers.push(first);
    let killed = false;
    fake.interceptors.push((r) => {
      if (isKillPoint(r) && !killed) {
        killed = true;
        // Let the fake apply the write, then kill the worker before it can record it.
        setImmediate(() => first.child.kill("SIGKILL"));
      }
      return undefined;
    });

    const payload = githubExample("issue_comment", "created", (p) => (p.comment.body = "@forgebot help"));
    const body = JSON.stringify(payload);
    const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `crash-${workers.length}`, body), body });
    expect(res.status).toBe(202);

    await waitFor("the first worker to die", () => first.child.signalCode === "SIGKILL", 30_000);
    const second = spawnForgebot(["worker"], env);
    workers.push(second);
    const reply = await waitFor("the reply recorded", async () => {
      const { rows } = await database.db.query<{ reply_note_id: string | null; status: string }>("SELECT status, reply_note_id FROM sessions");
      return rows[0]?.reply_note_id ? rows[0] : null;
    }, 30_000);
    expect(reply.status).toBe("finished");

    // A duplicate would come from a stalled job run again or a row the reconciler finds owed:
    // wait until the queue (shared with the worker through this web process's prefix) is drained.
    await waitForQuiet(web);
    const replies = fake.comments.filter((c) => c.body.includes("forgebot:reply"));
    expect(replies).toHaveLength(1);
    expect(String(replies[0]!.id)).toBe(reply.reply_note_id);
    expect(replies[0]!.body).toContain("@forgebot stop");
    const started = fake.comments.filter((c) => c.body.includes("forgebot:started"));
    expect(started).toHaveLength(1);
    expect(started[0]!.deleted).toBe(true);

    expect(await stopProcess(second)).toBe(0);
  });
});
