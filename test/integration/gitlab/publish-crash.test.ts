import { afterAll, beforeAll, describe, it, jest } from "@jest/globals";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { startTestBot, testEnv, type TestBot } from "../../helpers/bot.js";
import { CHANGE_REPO, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { FakeRepo } from "../../helpers/fake-repo.js";
import { stopProcess, type BotProcess } from "../../helpers/processes.js";
import { crashDuringPublish, crashPublishScript, type PublishRequestSeen } from "../../helpers/publish-crash.js";

/**
 * `forgebot worker` SIGKILLed right after GitLab applied each write of a publish (the commit
 * with its new branch, the merge request, the reply), then a new worker: one branch, one commit,
 * one merge request, one reply.
 */
jest.setTimeout(180_000);
const SECRET = "gitlab-hook-secret";
const root = workspaceRoot();
let database: TestDatabase;
let gitlab: FakeGitLab;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];
let issue = 700;
let delivery = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  gitlab = await new FakeGitLab().start();
  model = await new FakeOpenAI().start();
  const base = testEnv({ databaseUrl: database.url });
  // GitLab only: the worker processes have no GitHub App.
  const { APP_ID: _a, PRIVATE_KEY: _k, WEBHOOK_SECRET: _w, ...withoutGitHub } = base;
  env = {
    ...withoutGitHub,
    QUEUE_PREFIX: uniquePrefix(),
    LOG_LEVEL: "warn",
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
    GITLAB_WEBHOOK_SECRET: SECRET,
    GITLAB_NOTES_PER_MINUTE: "10000",
    OPENAI_BASE_URL: model.baseUrl,
    OPENAI_MODEL: "fake-model",
    OPENAI_API_KEY: "test-key",
    AGENT_MODEL_RETRIES: "0",
    WORKSPACE_DIR: root.dir,
    // The publish is part of the run: a crash anywhere in it is picked up by the next worker.
    CHANGE_APPROVAL: "never",
  };
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
  await enableChanges(database.db, "gitlab:project:gitlab-org/gitlab-test");
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await model.stop();
  await gitlab.stop();
  await database.drop();
  root.remove();
});

const killPoints: [string, (r: PublishRequestSeen) => boolean][] = [
  ["the commit and its branch", (r) => r.method === "POST" && r.path.endsWith("/repository/commits")],
  ["the merge request", (r) => r.method === "POST" && r.path.endsWith("/merge_requests")],
  ["the reply", (r) => r.method === "POST" && r.path.endsWith("/notes") && String(r.body.body ?? "").includes("forgebot:reply")],
];

describe.each(killPoints)("a worker killed right after GitLab stored %s", (_what, killAt) => {
  it("ends, after a new worker starts, with one branch, one commit, one merge request and one reply", async () => {
    const number = ++issue;
    gitlab.notes.length = 0;
    gitlab.openedMergeRequests.length = 0;
    gitlab.interceptors.length = 0;
    gitlab.repo = FakeRepo.from(CHANGE_REPO);
    model.script = crashPublishScript();
    await crashDuringPublish({
      env,
      web,
      workers,
      repo: gitlab.repo,
      onApplied(hook) {
        gitlab.interceptors.push((r) => {
          setImmediate(() => hook({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> }));
          return undefined;
        });
      },
      killAt,
      async mention() {
        const payload = gitlabPayload("note-issue.docs-example", (p) => {
          p.object_attributes.id = 90_000 + number;
          p.object_attributes.note = "@forgebot change make sub subtract and add the logo";
          p.object_attributes.created_at = new Date().toISOString();
          p.issue.iid = number;
        });
        await fetch(`${web.baseUrl}/api/gitlab/webhooks`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": `publish-crash-${++delivery}` },
          body: JSON.stringify(payload),
        });
      },
      replies: () => gitlab.botNotes({ iid: number, live: true }).filter((n) => n.body.includes("forgebot:reply")).map((n) => n.body),
      startedNotes: () => gitlab.botNotes({ iid: number, live: true }).filter((n) => n.body.includes("forgebot:started")).map((n) => n.body),
      openedChangeRequests: () => gitlab.botMergeRequests().map((m) => ({ head: m.sourceBranch, base: m.targetBranch, draft: /^draft:/i.test(m.title) })),
    });
  });
});
