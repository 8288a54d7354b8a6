import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, UNLIMITED_WRITES, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type FakeFile, type RecordedRequest } from "../../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab, type FakeDiff, type GitLabRequest } from "../../helpers/fake-gitlab.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";
import { APP_PATCH, BASE, BIG_PATCH, C_PATCH_FULL, GROUP_ONE, GROUP_TWO, HEAD } from "./fixtures.js";

/**
 * `forgebot web` in-process and `forgebot worker` as real processes sharing one queue; the
 * worker is SIGKILLed while it posts a review, and a new worker finishes the session. Either
 * way the change request gets exactly one review and the thread one reply.
 */
const REPO = "Codertocat/Hello-World";
const SECRET = "gitlab-hook-secret";
const GITHUB_FILES: FakeFile[] = [
  { filename: "src/app.ts", status: "modified", patch: APP_PATCH, changes: 5 },
  { filename: "src/big.ts", status: "added", patch: BIG_PATCH, changes: 60 },
  { filename: "src/c.ts", status: "renamed", previous_filename: "src/old-c.ts", patch: C_PATCH_FULL, changes: 42 },
];
const GITLAB_DIFFS: FakeDiff[] = GITHUB_FILES.map((f) => ({ old_path: f.previous_filename ?? f.filename, new_path: f.filename, diff: `${f.patch}\n`, ...(f.status === "renamed" ? { renamed_file: true } : {}), ...(f.status === "added" ? { new_file: true } : {}) }));

let database: TestDatabase;
let github: FakeGitHub;
let gitlab: FakeGitLab;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];

function reviewer(r: ModelRequest): FakeReply {
  if (r.raw.includes("### src/app.ts")) return { kind: "tools", calls: [GROUP_ONE] };
  if (r.raw.includes("### src/c.ts")) return { kind: "tools", calls: [GROUP_TWO] };
  return { kind: "tools", calls: [{ name: "submit_review", input: { findings: [] } }] };
}

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  gitlab = await new FakeGitLab().start();
  model = await new FakeOpenAI(reviewer).start();
  env = testEnv({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      GITLAB_URL: gitlab.url,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: SECRET,
      GITLAB_NOTES_PER_MINUTE: "10000",
      ...UNLIMITED_WRITES,
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      AGENT_MAX_TOKENS: "36000",
      QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web.stop();
  await Promise.all([github.stop(), gitlab.stop(), model.stop()]);
  await database.drop();
});

beforeEach(async () => {
  await database.db.query("TRUNCATE sessions, webhook_deliveries CASCADE");
  model.requests.length = 0;
});

/** Starts a worker that is killed at the first request `isKillPoint` accepts, once the fake applied it. */
function killedWorker(addInterceptor: (kill: () => void) => void): BotProcess {
  const first = spawnForgebot(["worker"], env);
  workers.push(first);
  let killed = false;
  addInterceptor(() => {
    if (killed) return;
    killed = true;
    setImmediate(() => first.child.kill("SIGKILL"));
  });
  return first;
}

async function finishWithNewWorker(first: BotProcess): Promise<{ id: number; reply_note_id: string }> {
  await waitFor("the first worker to die", () => first.child.signalCode === "SIGKILL", 60_000);
  const second = spawnForgebot(["worker"], env);
  workers.push(second);
  const row = await waitFor("the reply recorded", async () => {
    const { rows } = await database.db.query<{ id: number; reply_note_id: string | null; status: string }>("SELECT id, status, reply_note_id FROM sessions");
    return rows[0]?.reply_note_id ? (rows[0] as { id: number; reply_note_id: string; status: string }) : null;
  }, 60_000);
  // Give a duplicate every chance to appear: stalled-job checks run every second.
  await new Promise((r) => setTimeout(r, 3000));
  expect(await stopProcess(second)).toBe(0);
  return row;
}

const githubKillPoints = [
  ["while the model reviews the second group, before anything is posted", "model"],
  ["right after GitHub stored the review, before it was recorded", "review"],
] as const;

describe.each(githubKillPoints)("a worker killed %s", (_when, point) => {
  it("leads to exactly one review and one reply; recorded groups are not asked again", async () => {
    const pr = point === "model" ? 300 : 301;
    github.interceptors.length = 0;
    model.onRequest = undefined;
    github.threads.set(`${REPO}#${pr}`, { title: "Numbers", body: "", author: "octo", headSha: HEAD, baseSha: BASE, files: GITHUB_FILES });
    const first = killedWorker((kill) => {
      if (point === "model") model.onRequest = (r) => (r.raw.includes("### src/c.ts") ? kill() : undefined);
      else github.interceptors.push((r: RecordedRequest) => (r.method === "POST" && r.path.endsWith(`/pulls/${pr}/reviews`) ? (kill(), undefined) : undefined));
    });
    const payload = githubExample("issue_comment", "created", (p) => {
      p.issue.number = pr;
      p.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr}` };
      p.comment.body = "@forgebot review";
    });
    const body = JSON.stringify(payload);
    expect((await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `review-crash-github-${pr}`, body), body })).status).toBe(202);

    const session = await finishWithNewWorker(first);
    model.onRequest = undefined;
    const reviews = github.reviews.filter((r) => r.number === pr);
    expect(reviews).toHaveLength(1);
    expect(reviews[0]!.comments).toHaveLength(6);
    const replies = github.comments.filter((c) => c.number === pr && c.body.includes("forgebot:reply"));
    expect(replies).toHaveLength(1);
    expect(String(replies[0]!.id)).toBe(session.reply_note_id);
    expect(replies[0]!.body).toContain(`[the review](${reviews[0]!.html_url})`);
    // Group 1 once; group 2 again only when the kill cut its call short.
    expect(model.requests.filter((r) => r.raw.includes("### src/app.ts"))).toHaveLength(1);
    expect(model.requests.filter((r) => r.raw.includes("### src/c.ts"))).toHaveLength(point === "model" ? 2 : 1);
    const { rows } = await database.db.query("SELECT kind FROM session_events WHERE session_id = $1 AND kind LIKE 'review_%'", [session.id]);
    expect(rows).toEqual([{ kind: point === "model" ? "review_posted" : "review_found" }]);
  });
});

const gitlabKillPoints = [
  ["right after GitLab published the review, before it was recorded", (r: GitLabRequest) => r.method === "POST" && r.path.endsWith("/draft_notes/bulk_publish")],
  ["after its first draft note, before the review was published", (r: GitLabRequest) => r.method === "POST" && r.path.endsWith("/draft_notes")],
] as const;

describe.each(gitlabKillPoints)("a worker killed %s", (_when, isKillPoint) => {
  it("leads to exactly one published review and one reply: an interrupted attempt's drafts are replaced, never published twice", async () => {
    const iid = isKillPoint === gitlabKillPoints[0][1] ? 41 : 42;
    gitlab.interceptors.length = 0;
    gitlab.mergeRequests.set(`5!${iid}`, { title: "Numbers", description: "", diffRefs: { base_sha: BASE, start_sha: BASE, head_sha: HEAD }, diffs: GITLAB_DIFFS });
    const first = killedWorker((kill) => gitlab.interceptors.push((r) => (isKillPoint(r) ? (kill(), undefined) : undefined)));
    const noteId = 80_000 + iid;
    const payload = gitlabPayload("note-merge-request.docs-example", (p) => {
      p.object_attributes.id = noteId;
      p.object_attributes.note = "@forgebot review";
      p.object_attributes.discussion_id = `d${noteId}`.padEnd(40, "0");
      p.merge_request.iid = iid;
    });
    gitlab.seedNote({ id: noteId, projectId: 5, noteable: "merge_requests", iid, body: "@forgebot review", discussionId: payload.object_attributes.discussion_id });
    const res = await fetch(`${web.baseUrl}/api/gitlab/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": `review-crash-${iid}` },
      body: JSON.stringify(payload),
    });
    expect(res.status).toBe(202);

    const session = await finishWithNewWorker(first);
    const notes = gitlab.reviewNotes(iid);
    expect(notes.filter((n) => n.type === "DiffNote")).toHaveLength(6);
    expect(notes.filter((n) => n.body.includes(`<!-- forgebot:review session=${session.id} -->`))).toHaveLength(1);
    expect(gitlab.drafts).toHaveLength(0);
    expect(gitlab.requests.filter((r) => r.path.endsWith(`/${iid}/draft_notes/bulk_publish`))).toHaveLength(1);
    const replies = gitlab.botNotes({ iid, live: true }).filter((n) => n.body.includes("forgebot:reply"));
    expect(replies).toHaveLength(1);
    expect(String(replies[0]!.id)).toBe(session.reply_note_id);
    expect(model.requests).toHaveLength(2);
    // Killed after publishing: the new worker found the review. Killed mid-drafts: it replaced the draft and published.
    const published = isKillPoint === gitlabKillPoints[0][1];
    const { rows } = await database.db.query("SELECT kind FROM session_events WHERE session_id = $1 AND kind LIKE 'review_%'", [session.id]);
    expect(rows).toEqual([{ kind: published ? "review_found" : "review_posted" }]);
    expect(gitlab.requests.filter((r) => r.method === "DELETE" && r.path.includes(`/${iid}/draft_notes/`))).toHaveLength(published ? 0 : 1);
  });
});
