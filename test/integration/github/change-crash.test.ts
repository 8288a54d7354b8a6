import { afterAll, beforeAll, describe, it } from "@jest/globals";
import { archiveBuffer } from "../../helpers/archives.js";
import { startTestBot, testEnv, type TestBot } from "../../helpers/bot.js";
import { crashMidCommand } from "../../helpers/change-crash.js";
import { CHANGE_REPO, CHANGE_SHA, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { stopProcess, type BotProcess } from "../../helpers/processes.js";

/** `forgebot worker` SIGKILLed while a change session's command runs in the sandbox (GitHub). */
const root = workspaceRoot();
let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  github.archives.set(CHANGE_SHA, await archiveBuffer(CHANGE_REPO));
  github.branchHeads.set("main", CHANGE_SHA);
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
      WORKSPACE_DIR: root.dir,
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
  await enableChanges(database.db, "github:repo:codertocat/hello-world");
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await model.stop();
  await github.stop();
  await database.drop();
  root.remove();
});

describe("a worker killed while a change session's command runs", () => {
  it("resumes in another worker with the same edits and runs no command twice", async () => {
    await crashMidCommand({
      database,
      model,
      env,
      workspaceDir: root.dir,
      workers,
      async mention() {
        const payload = githubExample("issue_comment", "created", (p) => {
          p.comment.body = "@forgebot change make sub subtract";
          p.comment.created_at = new Date().toISOString();
        });
        const body = JSON.stringify(payload);
        await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "change-crash-1", body), body });
      },
      reply: () => github.live().find((c) => c.body.includes("forgebot:reply")),
      replyBody: (reply) => (reply as { body: string }).body,
    });
  });
});
