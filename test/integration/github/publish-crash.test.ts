import { afterAll, beforeAll, describe, it, jest } from "@jest/globals";
import { startTestBot, testEnv, UNLIMITED_WRITES, type TestBot } from "../../helpers/bot.js";
import { CHANGE_REPO, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { FakeRepo } from "../../helpers/fake-repo.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { stopProcess, type BotProcess } from "../../helpers/processes.js";
import { crashDuringPublish, crashPublishScript, type PublishRequestSeen } from "../../helpers/publish-crash.js";

/**
 * `forgebot worker` SIGKILLed right after GitHub applied each write of a publish (blobs, tree,
 * commit, branch, pull request, reply), then a new worker: one branch, one commit, one pull
 * request, one reply.
 */
jest.setTimeout(180_000);
const root = workspaceRoot();
let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];
let issue = 600;
let delivery = 0;

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
      WORKSPACE_DIR: root.dir,
      // The publish is part of the run: a crash anywhere in it is picked up by the next worker.
      CHANGE_APPROVAL: "never",
      ...UNLIMITED_WRITES,
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

const seen = (r: { method: string; path: string; body: unknown }): PublishRequestSeen => ({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> });
const killPoints: [string, (r: PublishRequestSeen) => boolean][] = [
  ["the blob", (r) => r.method === "POST" && r.path.endsWith("/git/blobs")],
  ["the tree", (r) => r.method === "POST" && r.path.endsWith("/git/trees")],
  ["the commit", (r) => r.method === "POST" && r.path.endsWith("/git/commits")],
  ["the branch", (r) => r.method === "POST" && r.path.endsWith("/git/refs")],
  ["the pull request", (r) => r.method === "POST" && r.path.endsWith("/pulls")],
  ["the reply", (r) => r.method === "POST" && String(r.body.body ?? "").includes("forgebot:reply")],
];

describe.each(killPoints)("a worker killed right after GitHub stored %s", (_what, killAt) => {
  it("ends, after a new worker starts, with one branch, one commit, one pull request and one reply", async () => {
    const number = ++issue;
    github.comments.length = 0;
    github.pulls.length = 0;
    github.interceptors.length = 0;
    github.repo = FakeRepo.from(CHANGE_REPO);
    model.script = crashPublishScript();
    await crashDuringPublish({
      env,
      web,
      workers,
      repo: github.repo,
      onApplied(hook) {
        github.interceptors.push((r) => {
          setImmediate(() => hook(seen(r)));
          return undefined;
        });
      },
      killAt,
      async mention() {
        const payload = githubExample("issue_comment", "created", (p) => {
          p.issue.number = number;
          p.comment.id = 8_800_000 + number;
          p.comment.body = "@forgebot change make sub subtract and add the logo";
          p.comment.created_at = new Date().toISOString();
        });
        const body = JSON.stringify(payload);
        await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `publish-crash-${++delivery}`, body), body });
      },
      replies: () => github.live({ number }).filter((c) => c.body.includes("forgebot:reply")).map((c) => c.body),
      startedNotes: () => github.live({ number }).filter((c) => c.body.includes("forgebot:started")).map((c) => c.body),
      openedChangeRequests: () => github.openedPulls().map((p) => ({ head: p.head.ref, base: p.base.ref, draft: p.draft })),
    });
  });
});
