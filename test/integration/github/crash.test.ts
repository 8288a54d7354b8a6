import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";

/**
 * `forgebot web` and `forgebot worker` as separate processes sharing one queue; the worker is
 * SIGKILLed right after GitHub applied the started note's deletion and before the reply.
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

describe("a worker killed between deleting the started note and replying", () => {
  it("leads to exactly one reply after a new worker starts", async () => {
    const first = spawnForgebot(["worker"], env);
    workers.push(first);
    let killed = false;
    fake.interceptors.push((r) => {
      if (r.method === "DELETE" && !killed) {
        killed = true;
        // Let the fake apply the deletion, then kill the worker before it can reply.
        setImmediate(() => first.child.kill("SIGKILL"));
      }
      return undefined;
    });

    const payload = githubExample("issue_comment", "created", (p) => (p.comment.body = "@forgebot help"));
    const body = JSON.stringify(payload);
    const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "crash-1", body), body });
    expect(res.status).toBe(202);

    await waitFor("the first worker to die", () => first.child.signalCode === "SIGKILL", 30_000);
    const started = fake.comments.find((c) => c.body.includes("forgebot:started"));
    expect(started?.deleted).toBe(true);
    expect(fake.comments.filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(0);

    const second = spawnForgebot(["worker"], env);
    workers.push(second);
    const reply = await waitFor("the reply", () => fake.live().find((c) => c.body.includes("forgebot:reply")), 30_000);
    expect(reply.body).toContain("@forgebot stop");
    expect(reply.body).toContain("[View session](http://forgebot.test/sessions/");

    // Give a duplicate every chance to appear: stalled-job checks run every second.
    await new Promise((r) => setTimeout(r, 3000));
    expect(fake.comments.filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(1);
    expect(fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);
    const { rows } = await database.db.query("SELECT status, reply_note_id FROM sessions WHERE reply_note_id IS NOT NULL");
    expect(rows).toEqual([{ status: "finished", reply_note_id: String(reply.id) }]);

    expect(await stopProcess(second)).toBe(0);
  });
});
