import { afterAll, beforeAll, describe, it } from "@jest/globals";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { archiveBuffer } from "../../helpers/archives.js";
import { startTestBot, testEnv, type TestBot } from "../../helpers/bot.js";
import { crashMidCommand } from "../../helpers/change-crash.js";
import { CHANGE_REPO, CHANGE_SHA, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab, type FakeNote } from "../../helpers/fake-gitlab.js";
import { serveFakeGitLab } from "../../helpers/fake-gitlab-server.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { stopProcess, type BotProcess } from "../../helpers/processes.js";

/** `forgebot worker` SIGKILLed while a change session's command runs in the sandbox (GitLab). */
const SECRET = "gitlab-hook-secret";
const root = workspaceRoot();
let database: TestDatabase;
let gitlab: FakeGitLab;
let served: { url: string; stop(): Promise<void> };
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  gitlab = new FakeGitLab();
  gitlab.archives.set(CHANGE_SHA, await archiveBuffer(CHANGE_REPO));
  gitlab.changeHeads.set(1, { sha: CHANGE_SHA, sourceBranch: "fix-sub" });
  served = await serveFakeGitLab(gitlab);
  model = await new FakeOpenAI().start();
  const base = testEnv({ databaseUrl: database.url });
  // GitLab only: the worker processes have no GitHub App.
  const { APP_ID: _a, PRIVATE_KEY: _k, WEBHOOK_SECRET: _w, ...withoutGitHub } = base;
  env = {
    ...withoutGitHub,
    QUEUE_PREFIX: uniquePrefix(),
    LOG_LEVEL: "warn",
    GITLAB_URL: served.url,
    GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
    GITLAB_WEBHOOK_SECRET: SECRET,
    GITLAB_NOTES_PER_MINUTE: "10000",
    OPENAI_BASE_URL: model.baseUrl,
    OPENAI_MODEL: "fake-model",
    OPENAI_API_KEY: "test-key",
    AGENT_MODEL_RETRIES: "0",
    WORKSPACE_DIR: root.dir,
  };
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
  await enableChanges(database.db, "gitlab:project:gitlab-org/gitlab-test");
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await model.stop();
  await served.stop();
  await database.drop();
  root.remove();
});

describe("a worker killed while a change session's command runs (GitLab)", () => {
  it("resumes in another worker with the same edits and runs no command twice", async () => {
    await crashMidCommand({
      database,
      model,
      env,
      workspaceDir: root.dir,
      workers,
      async mention() {
        const payload = gitlabPayload("note-merge-request.docs-example", (p) => {
          p.object_attributes.id = 6001;
          p.object_attributes.note = "@forgebot change make sub subtract";
          p.object_attributes.discussion_id = "d6001".padEnd(40, "0");
        });
        gitlab.seedNote({ id: 6001, projectId: 5, noteable: "merge_requests", iid: 1, body: payload.object_attributes.note, discussionId: payload.object_attributes.discussion_id });
        await fetch(`${web.baseUrl}/api/gitlab/webhooks`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": "change-crash-1" },
          body: JSON.stringify(payload),
        });
      },
      reply: () => gitlab.botNotes({ live: true }).find((n) => n.body.includes("forgebot:reply")),
      replyBody: (reply) => (reply as FakeNote).body,
    });
  });
});
