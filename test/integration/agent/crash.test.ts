import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";
import { waitForQuiet } from "../../helpers/quiet.js";

/**
 * `forgebot worker` runs a six-step agent session against a model server in this process and
 * is SIGKILLed while the model call for step k + 1 is in flight. A second worker picks the
 * stalled job up and resumes from checkpoint k: steps 1..k are never asked again.
 */
const K = 3;
const STEPS = 6;

let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  model = await new FakeOpenAI().start();
  env = testEnv({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: "warn",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await model.stop();
  await github.stop();
  await database.drop();
});

describe("a worker killed in the middle of an agent session", () => {
  it("resumes from the last checkpoint in another worker, re-runs no recorded step and replies once", async () => {
    github.files.set("README.md", "# Hello\n");
    const first = spawnForgebot(["worker"], env);
    workers.push(first);
    let killed = false;
    model.script = (r) => {
      const step = r.toolResults + 1;
      if (step === K + 1 && !killed) {
        killed = true;
        first.child.kill("SIGKILL");
        return { kind: "hang" };
      }
      return step < STEPS ? { kind: "tools", calls: [{ name: "list_directory", input: { path: "" } }] } : { kind: "text", text: "Survived the crash." };
    };

    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.body = "@forgebot walk the repository";
      p.comment.created_at = new Date().toISOString();
    });
    const body = JSON.stringify(payload);
    const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "agent-crash-1", body), body });
    expect(res.status).toBe(202);

    await waitFor("the first worker to die", () => first.child.signalCode === "SIGKILL", 30_000);
    const { rows: atCrash } = await database.db.query("SELECT kind FROM checkpoints ORDER BY seq");
    expect(atCrash.map((r) => r.kind)).toEqual(["start", ...Array.from({ length: K }, () => "step")]);

    const second = spawnForgebot(["worker"], env);
    workers.push(second);
    const reply = await waitFor("the reply", () => github.live().find((c) => c.body.includes("forgebot:reply")), 30_000);
    expect(reply.body).toContain("Survived the crash.");

    const perStep = Array.from({ length: STEPS }, (_, i) => model.forStep(i + 1).length);
    // Steps before the crash were asked once; step k + 1 twice (lost with the first worker); the rest once.
    expect(perStep).toEqual(Array.from({ length: STEPS }, (_, i) => (i + 1 === K + 1 ? 2 : 1)));

    // The web process shares the worker's queue prefix: its queues show what is left to run.
    await waitForQuiet(web);
    expect(github.comments.filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(1);
    expect(github.comments.filter((c) => c.body.includes("forgebot:started")).map((c) => c.deleted)).toEqual([true]);
    const { rows } = await database.db.query("SELECT status, run_seq, usage->>'steps' AS steps FROM sessions");
    expect(rows).toEqual([{ status: "finished", run_seq: 1, steps: String(STEPS) }]);
    const { rows: chain } = await database.db.query("SELECT seq, parent_seq FROM checkpoints ORDER BY seq");
    expect(chain.every((c, i) => c.seq === i + 1 && c.parent_seq === (i === 0 ? null : i))).toBe(true);
    expect(model.inFlight).toBe(0);

    expect(await stopProcess(second)).toBe(0);
  });
});
