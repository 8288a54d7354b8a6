import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { branchName } from "../../src/agent/publish/message.js";
import { startTestBot, UNLIMITED_WRITES, waitFor, type TestBot } from "../helpers/bot.js";
import { CHANGE_REPO, enableChanges, workspaceRoot } from "../helpers/change-session.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../helpers/fake-gitlab.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../helpers/fake-openai.js";
import { FakeRepo } from "../helpers/fake-repo.js";
import { GitHubPublishForge, GitLabPublishForge, type PublishForge, type ThreadId } from "../helpers/publish-forges.js";
import { publishScript, REQUEST } from "../helpers/publish-scenarios.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { APP_PATCH, BASE, HEAD } from "../integration/review/fixtures.js";
import { faultLabel, FaultyGitHub, FaultyGitLab, writeFigures, type Fault, type FaultyFront } from "./support.js";

/**
 * Forge faults in the middle of a review session and of the publish of an approved change, with
 * the production clients: on GitHub Probot's Octokit (its retry plugin, the request timeout) and
 * the write budget against a loopback FakeGitHub behind a FaultyGitHub; on GitLab the gitbeaker
 * transport and the budget against a loopback FakeGitLab behind a FaultyGitLab. Each fault hits
 * one write: a 5xx, a 429 or GitHub's secondary-limit 403 with Retry-After, an answer lost after
 * the forge applied the write (a timeout or a dropped connection), a review position the diff no
 * longer has, a protected branch. Whatever happens, the forge holds each thing once (review,
 * review comments, branch, commit, pull/merge request) and each run answers its thread once.
 */

const REPO = "Codertocat/Hello-World";
const GITHUB_TIMEOUT_MS = 1500;
const secondary = { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits" };

let database: TestDatabase;
let bot: TestBot;
let model: FakeOpenAI;
let githubFake: FakeGitHub;
let github: FaultyGitHub;
let gitlabFake: FakeGitLab;
let gitlab: FaultyGitLab;
const root = workspaceRoot();
const gh = new GitHubPublishForge();
const gl = new GitLabPublishForge();

type Figure = { case: string; forge: string; flow: "review" | "publish"; fault: string; target: string; attempts: number; faultsServed: number; retries: number; waitedMs: number | null; answerMs: number };
const figures: Figure[] = [];

/** Two findings on lines the diff of src/app.ts shows: line 3, and lines 11–12. */
const FINDINGS = {
  summary: "Two naming points.",
  findings: [
    { path: "src/app.ts", side: "new", start_line: 3, end_line: 3, severity: "high", body: "Keep the numbering consistent.", replacement: ["line 3"] },
    { path: "src/app.ts", side: "new", start_line: 11, end_line: 12, severity: "medium", body: "Spell the numbers out.", replacement: ["added eleven", "added twelve"] },
  ],
};
/** The diff after a push of the base: line 3's hunk is gone, so a comment on it has no place. */
const STALE_PATCH = APP_PATCH.split("\n").slice(6).join("\n");

/** Runs before the reviewer answers (e.g. to move the diff under it). */
let beforeSubmit: (() => void) | null = null;

function script(r: ModelRequest): FakeReply {
  if (r.raw.includes("submit_review")) {
    beforeSubmit?.();
    return { kind: "tools", calls: [{ name: "submit_review", input: FINDINGS }] };
  }
  return publishScript()(r);
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI(script).start();
  githubFake = await new FakeGitHub().start();
  github = await new FaultyGitHub(githubFake).start();
  gitlabFake = await new FakeGitLab().start();
  gitlab = await new FaultyGitLab(gitlabFake).start();
  gh.fake = githubFake;
  gl.fake = gitlabFake;
  bot = await startTestBot({
    databaseUrl: database.url,
    realOctokit: true,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      GITHUB_REQUEST_TIMEOUT_MS: String(GITHUB_TIMEOUT_MS),
      ...UNLIMITED_WRITES,
      ...gl.env(),
      GITLAB_URL: gitlab.url,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      WORKSPACE_DIR: root.dir,
      SANDBOX_COMMAND_TIMEOUT_MS: "20000",
    },
  });
  await enableChanges(database.db, gh.repositoryActor);
  await enableChanges(database.db, gl.repositoryActor);
}, 60_000);

afterAll(async () => {
  writeFigures("flow-faults", { githubRequestTimeoutMs: GITHUB_TIMEOUT_MS, cases: figures });
  await bot?.stop();
  await model?.stop();
  await github?.stop();
  await githubFake?.stop();
  await gitlab?.stop();
  await gitlabFake?.stop();
  await database?.drop();
  root.remove();
});

/** Serves `fault` for the first `times` requests `match` picks; returns what the front saw of them. */
function inject(front: FaultyFront, method: string, path: RegExp, fault: Fault | null, times = 1) {
  let served = 0;
  const from = front.seen.length;
  front.rules = fault ? [(r) => (r.method === method && path.test(r.path) && served++ < times ? fault : undefined)] : [];
  return {
    requests: () => front.seen.slice(from).filter((s) => s.method === method && path.test(s.path)),
    target: `${method} ${path.source.replace(/\\\//g, "/")}`,
  };
}

/** The gap between the first faulted request and the next one, when there was one. */
function waited(requests: { at: number; fault: string | null }[]): number | null {
  const first = requests.findIndex((r) => r.fault !== null);
  return first >= 0 && requests[first + 1] ? requests[first + 1]!.at - requests[first]!.at : null;
}

/** Records a case's figures; `refusal` names what the fake itself refused when no fault was injected. */
function record(name: string, forge: string, flow: Figure["flow"], fault: Fault | null, probe: ReturnType<typeof inject>, answerMs: number, refusal?: string): Figure {
  const requests = probe.requests();
  const figure: Figure = {
    case: name,
    forge,
    flow,
    fault: fault ? faultLabel(fault) + (fault.apply ? " after apply" : "") : (refusal ?? "none"),
    target: probe.target,
    attempts: requests.length,
    faultsServed: requests.filter((r) => r.fault !== null).length,
    retries: requests.length - 1,
    waitedMs: waited(requests),
    answerMs,
  };
  figures.push(figure);
  return figure;
}

async function sessionOf(forge: string, thread: ThreadId) {
  const { rows } = await database.db.query<{ id: string; status: string; error_reason: string | null }>(
    "SELECT id, status, error_reason FROM sessions WHERE forge = $1 AND thread_kind = $2 AND thread_number = $3 ORDER BY id DESC LIMIT 1",
    [forge, thread.kind === "cr" ? "change_request" : "issue", thread.number],
  );
  const row = rows[0];
  return row ? { id: Number(row.id), status: row.status, errorReason: row.error_reason } : null;
}

async function statusIs(forge: string, thread: ThreadId, status: string) {
  return waitFor(`${forge} ${thread.number}: a session ${status}`, async () => {
    const s = await sessionOf(forge, thread);
    return s?.status === status ? s : null;
  }, 30_000);
}

/** Every note the bot ever wrote in the thread (deleted ones included), by kind. */
function notesIn(forge: PublishForge, thread: ThreadId): { replies: number; started: number; liveStarted: number } {
  const all =
    forge.name === "github"
      ? githubFake.comments.filter((c) => c.number === thread.number && !c.author).map((c) => ({ body: c.body, live: !c.deleted }))
      : gitlabFake.botNotes({ iid: thread.number }).filter((n) => n.noteable === (thread.kind === "cr" ? "merge_requests" : "issues")).map((n) => ({ body: n.body, live: !n.deleted }));
  return {
    replies: all.filter((n) => n.body.includes("forgebot:reply")).length,
    started: all.filter((n) => n.body.includes("forgebot:started")).length,
    liveStarted: all.filter((n) => n.live && n.body.includes("forgebot:started")).length,
  };
}

/** Each run answered once: `runs` replies, as many started notes, none left. */
function answeredOnce(forge: PublishForge, thread: ThreadId, runs: number): void {
  expect(notesIn(forge, thread)).toEqual({ replies: runs, started: runs, liveStarted: 0 });
}

async function reply(forge: PublishForge, thread: ThreadId, n: number, timeoutMs = 40_000): Promise<string> {
  return waitFor(`reply ${n} in ${forge.name} ${forge.reference(thread)}`, () => forge.replies(thread)[n - 1], timeoutMs);
}

describe("a review session on GitHub, its review's post faulted", () => {
  let pr = 500;

  function pullRequest(): ThreadId {
    const number = ++pr;
    githubFake.threads.set(`${REPO}#${number}`, { title: "Numbers", body: "Renames the numbers.", author: "octo", headSha: HEAD, baseSha: BASE, files: [{ filename: "src/app.ts", status: "modified", patch: APP_PATCH, changes: 5 }] });
    return { kind: "cr", number };
  }

  const cases: { name: string; fault: Fault | null; attempts: number; minWaitMs: number; stale?: true }[] = [
    { name: "a 502: retried after looking for it", fault: { status: 502 }, attempts: 2, minWaitMs: 0 },
    { name: "a 429 with Retry-After: waited, then posted", fault: { status: 429, headers: { "retry-after": "1" }, body: { message: "Too Many Requests" } }, attempts: 2, minWaitMs: 1000 },
    { name: "the secondary rate limit (403 with Retry-After): waited, then posted", fault: { status: 403, headers: { "retry-after": "1" }, body: secondary }, attempts: 2, minWaitMs: 1000 },
    { name: "a timeout after GitHub stored the review: found, not posted again", fault: { hang: true, apply: true }, attempts: 1, minWaitMs: 0 },
    { name: "a connection dropped after GitHub stored the review: found, not posted again", fault: { drop: true, apply: true }, attempts: 1, minWaitMs: 0 },
    { name: "a 422 for a line the diff no longer has: posted once with the findings in its summary", fault: null, attempts: 2, minWaitMs: 0, stale: true },
  ];

  it.each(cases)("$name", async ({ name, fault, attempts, minWaitMs, stale }) => {
    const thread = pullRequest();
    const probe = inject(github, "POST", new RegExp(`/pulls/${thread.number}/reviews$`), fault);
    beforeSubmit = stale
      ? () => {
          const t = githubFake.threads.get(`${REPO}#${thread.number}`)!;
          githubFake.threads.set(`${REPO}#${thread.number}`, { ...t, files: [{ filename: "src/app.ts", status: "modified", patch: STALE_PATCH, changes: 3 }] });
        }
      : null;
    const began = Date.now();
    await gh.mention(bot, thread, "@forgebot review");
    const answer = await reply(gh, thread, 1);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    beforeSubmit = null;
    github.rules = [];

    const session = (await sessionOf("github", thread))!;
    expect(session).toMatchObject({ status: "finished", errorReason: null });
    const reviews = githubFake.reviews.filter((r) => r.number === thread.number);
    expect(reviews).toHaveLength(1);
    expect(reviews[0]!.body).toContain(`<!-- forgebot:review session=${session.id} -->`);
    if (stale) {
      expect(reviews[0]!.comments).toEqual([]);
      expect(reviews[0]!.body).toContain("GitHub refused the inline comments (422");
      expect(reviews[0]!.body).toContain("`src/app.ts` line 3");
      expect(answer).toContain("could not be placed on a line of the diff");
    } else {
      expect(reviews[0]!.comments.map((c) => [c.line, c.start_line])).toEqual([[3, null], [12, 11]]);
    }
    expect(answer).toContain("Reviewed 1 file at `a1b2c3d`");
    expect(answer).toContain(`[the review](${reviews[0]!.html_url})`);
    answeredOnce(gh, thread, 1);

    const requests = probe.requests();
    expect(requests).toHaveLength(attempts);
    if (fault) expect(requests[0]!.fault).toBe(faultLabel(fault));
    const figure = record(name, "github", "review", fault, probe, answerMs, stale ? "422 from the forge (stale position)" : undefined);
    if (minWaitMs) expect(figure.waitedMs).toBeGreaterThanOrEqual(minWaitMs - 50);
  }, 60_000);
});

describe("publishing an approved change on GitHub, one of its writes faulted", () => {
  let issue = 600;

  async function waitingChange(thread: ThreadId): Promise<number> {
    await gh.mention(bot, thread, `@forgebot change ${REQUEST}`);
    expect(await reply(gh, thread, 1)).toContain("Reply `@forgebot apply`");
    return (await statusIs("github", thread, "plan_approval_required")).id;
  }

  function freshRepo(): FakeRepo {
    gh.repo = FakeRepo.from(CHANGE_REPO);
    githubFake.repo = gh.repo;
    return gh.repo;
  }

  const cases: { name: string; method: string; path: RegExp; fault: Fault; attempts: number; minWaitMs: number }[] = [
    { name: "a 502 on the branch's creation: retried", method: "POST", path: /\/git\/refs$/, fault: { status: 502 }, attempts: 2, minWaitMs: 0 },
    { name: "a 429 with Retry-After on the pull request: waited, then opened", method: "POST", path: /\/pulls$/, fault: { status: 429, headers: { "retry-after": "1" }, body: { message: "Too Many Requests" } }, attempts: 2, minWaitMs: 1000 },
    { name: "the secondary rate limit (403 with Retry-After) on the commit: waited, then made", method: "POST", path: /\/git\/commits$/, fault: { status: 403, headers: { "retry-after": "1" }, body: secondary }, attempts: 2, minWaitMs: 1000 },
    { name: "a timeout after GitHub created the branch: the retry finds it", method: "POST", path: /\/git\/refs$/, fault: { hang: true, apply: true }, attempts: 2, minWaitMs: GITHUB_TIMEOUT_MS },
    { name: "a connection dropped after GitHub opened the pull request: the retry finds it", method: "POST", path: /\/pulls$/, fault: { drop: true, apply: true }, attempts: 2, minWaitMs: 0 },
  ];

  it.each(cases)("$name", async ({ name, method, path, fault, attempts, minWaitMs }) => {
    const repo = freshRepo();
    const main = repo.branches.get("main")!;
    const thread: ThreadId = { kind: "issue", number: ++issue };
    const sessionId = await waitingChange(thread);
    const pullsBefore = githubFake.openedPulls().length;
    const probe = inject(github, method, path, fault);
    const began = Date.now();
    await gh.mention(bot, thread, "@forgebot apply");
    const published = await reply(gh, thread, 2);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    github.rules = [];

    expect(published).toContain("Opened draft pull request #");
    const branch = branchName(sessionId, REQUEST);
    expect(repo.forgebotBranches()).toEqual([branch]);
    const commits = repo.commitsBetween(main, repo.branches.get(branch)!);
    expect(commits).toHaveLength(1);
    expect(commits[0]!.parents).toEqual([main]);
    expect(repo.branches.get("main")).toBe(main);
    const opened = githubFake.openedPulls().slice(pullsBefore);
    expect(opened.map((p) => p.head.ref)).toEqual([branch]);
    expect(published).toContain(`#${opened[0]!.number}`);
    expect((await sessionOf("github", thread))!.status).toBe("finished");
    answeredOnce(gh, thread, 2);

    const requests = probe.requests();
    expect(requests).toHaveLength(attempts);
    expect(requests[0]!.fault).toBe(faultLabel(fault));
    const figure = record(name, "github", "publish", fault, probe, answerMs);
    if (minWaitMs) expect(figure.waitedMs).toBeGreaterThanOrEqual(minWaitMs - 50);
  }, 60_000);

  it("a protected branch refusing the ref update of `apply here`: answered with the reason, nothing written", async () => {
    const repo = freshRepo();
    const main = repo.branches.get("main")!;
    repo.branches.set("fix-sub", main);
    const thread = gh.addChangeRequest({ headBranch: "fix-sub" });
    await waitingChange(thread);
    const pullsBefore = githubFake.openedPulls().length;
    // The branch reads as unprotected (a rule GitHub applies only on push); the update is refused.
    const fault: Fault = { status: 422, body: { message: "Protected branch update failed for refs/heads/fix-sub.", documentation_url: "https://docs.github.com/rest/git/refs#update-a-reference" } };
    const probe = inject(github, "PATCH", /\/git\/refs\/heads\/fix-sub$/, fault);
    const began = Date.now();
    await gh.mention(bot, thread, "@forgebot apply here");
    const refused = await reply(gh, thread, 2);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    github.rules = [];

    expect(refused).toContain("Nothing was published: GitHub refused to update `fix-sub` (Protected branch update failed for refs/heads/fix-sub.)");
    expect(repo.branches.get("fix-sub")).toBe(main);
    expect(repo.forgebotBranches()).toEqual([]);
    expect(githubFake.openedPulls().slice(pullsBefore)).toEqual([]);
    expect((await sessionOf("github", thread))!.status).toBe("plan_approval_required");
    answeredOnce(gh, thread, 2);
    expect(probe.requests().map((r) => r.fault)).toEqual(["422"]);
    record("protected branch refusing `apply here`", "github", "publish", fault, probe, answerMs);
  }, 60_000);
});

describe("publishing an approved change on GitLab, one of its writes faulted", () => {
  let issue = 600;

  async function waitingChange(thread: ThreadId): Promise<number> {
    await gl.mention(bot, thread, `@forgebot change ${REQUEST}`);
    expect(await reply(gl, thread, 1)).toContain("Reply `@forgebot apply`");
    return (await statusIs("gitlab", thread, "plan_approval_required")).id;
  }

  function freshRepo(): FakeRepo {
    gl.repo = FakeRepo.from(CHANGE_REPO);
    gitlabFake.repo = gl.repo;
    return gl.repo;
  }

  const commits = /\/repository\/commits$/;
  const mergeRequests = /^\/projects\/[^/]+\/merge_requests$/;
  const cases: { name: string; path: RegExp; fault: Fault; attempts: number; minWaitMs: number }[] = [
    { name: "a 500 on the commit: tried again, looking first", path: commits, fault: { status: 500, body: { message: "500 Internal Server Error" } }, attempts: 2, minWaitMs: 500 },
    { name: "a 429 with Retry-After on the merge request: waited, then opened", path: mergeRequests, fault: { status: 429, headers: { "retry-after": "1" }, body: { message: "429 Too Many Requests" } }, attempts: 2, minWaitMs: 1000 },
    { name: "a connection dropped after GitLab made the commit and its branch: found, not made again", path: commits, fault: { drop: true, apply: true }, attempts: 1, minWaitMs: 0 },
    { name: "a connection dropped after GitLab opened the merge request: found, not opened again", path: mergeRequests, fault: { drop: true, apply: true }, attempts: 1, minWaitMs: 0 },
  ];

  it.each(cases)("$name", async ({ name, path, fault, attempts, minWaitMs }) => {
    const repo = freshRepo();
    const main = repo.branches.get("main")!;
    const thread: ThreadId = { kind: "issue", number: ++issue };
    const sessionId = await waitingChange(thread);
    const opened = () => gitlabFake.botMergeRequests().filter((m) => m.sourceBranch === branchName(sessionId, REQUEST));
    const mrsBefore = gitlabFake.botMergeRequests().length;
    const probe = inject(gitlab, "POST", path, fault);
    const began = Date.now();
    await gl.mention(bot, thread, "@forgebot apply");
    const published = await reply(gl, thread, 2);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    gitlab.rules = [];

    expect(published).toContain("Opened draft merge request !");
    const branch = branchName(sessionId, REQUEST);
    expect(repo.forgebotBranches()).toEqual([branch]);
    const made = repo.commitsBetween(main, repo.branches.get(branch)!);
    expect(made).toHaveLength(1);
    expect(made[0]!.parents).toEqual([main]);
    expect(repo.branches.get("main")).toBe(main);
    expect(opened()).toHaveLength(1);
    expect(gitlabFake.botMergeRequests()).toHaveLength(mrsBefore + 1);
    expect(published).toContain(`!${opened()[0]!.iid}`);
    expect((await sessionOf("gitlab", thread))!.status).toBe("finished");
    answeredOnce(gl, thread, 2);

    const requests = probe.requests();
    expect(requests).toHaveLength(attempts);
    expect(requests[0]!.fault).toBe(faultLabel(fault));
    const figure = record(name, "gitlab", "publish", fault, probe, answerMs);
    if (minWaitMs) expect(figure.waitedMs).toBeGreaterThanOrEqual(minWaitMs - 50);
  }, 60_000);

  it("a protected branch refusing the commit of `apply here`: answered with the reason, nothing written", async () => {
    const repo = freshRepo();
    const main = repo.branches.get("main")!;
    repo.branches.set("fix-sub", main);
    const thread = gl.addChangeRequest({ headBranch: "fix-sub" });
    await waitingChange(thread);
    const mrsBefore = gitlabFake.botMergeRequests().length;
    // The branch reads as unprotected (a push rule GitLab applies only on push); the commit is refused.
    const fault: Fault = { status: 403, body: { message: "403 Forbidden - You are not allowed to push into this branch" } };
    const probe = inject(gitlab, "POST", commits, fault);
    const began = Date.now();
    await gl.mention(bot, thread, "@forgebot apply here");
    const refused = await reply(gl, thread, 2);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    gitlab.rules = [];

    expect(refused).toContain("Nothing was published: GitLab refused the commit on `fix-sub` (403 Forbidden - You are not allowed to push into this branch)");
    expect(repo.branches.get("fix-sub")).toBe(main);
    expect(repo.forgebotBranches()).toEqual([]);
    expect(gitlabFake.botMergeRequests()).toHaveLength(mrsBefore);
    expect((await sessionOf("gitlab", thread))!.status).toBe("plan_approval_required");
    answeredOnce(gl, thread, 2);
    expect(probe.requests().map((r) => r.fault)).toEqual(["403"]);
    record("protected branch refusing `apply here`", "gitlab", "publish", fault, probe, answerMs);
  }, 60_000);
});

describe("a review session on GitLab, its review's publish faulted", () => {
  let iid = 500;
  const diff = (patch: string) => [{ old_path: "src/app.ts", new_path: "src/app.ts", diff: `${patch}\n` }];

  function mergeRequest(): ThreadId {
    const number = ++iid;
    gitlabFake.mergeRequests.set(`${gitlabFake.projectId}!${number}`, { title: "Numbers", description: "Renames the numbers.", diffRefs: { base_sha: BASE, start_sha: BASE, head_sha: HEAD }, diffs: diff(APP_PATCH) });
    return { kind: "cr", number };
  }

  const cases: { name: string; fault: Fault | null; attempts: number; minWaitMs: number; stale?: true }[] = [
    { name: "a 502 on the bulk publish: its drafts replaced and published once", fault: { status: 502, body: { message: "502 Bad Gateway" } }, attempts: 2, minWaitMs: 500 },
    { name: "a 429 with Retry-After on the bulk publish: waited, then published once", fault: { status: 429, headers: { "retry-after": "1" }, body: { message: "429 Too Many Requests" } }, attempts: 2, minWaitMs: 1000 },
    { name: "a connection dropped after GitLab published the review: found, not published again", fault: { drop: true, apply: true }, attempts: 1, minWaitMs: 0 },
    { name: "a position the diff no longer has: that finding goes to the summary, the rest inline, once", fault: null, attempts: 1, minWaitMs: 0, stale: true },
  ];

  it.each(cases)("$name", async ({ name, fault, attempts, minWaitMs, stale }) => {
    const thread = mergeRequest();
    const probe = inject(gitlab, "POST", new RegExp(`/merge_requests/${thread.number}/draft_notes/bulk_publish$`), fault);
    beforeSubmit = stale ? () => (gitlabFake.mergeRequests.get(`${gitlabFake.projectId}!${thread.number}`)!.diffs = diff(STALE_PATCH)) : null;
    const began = Date.now();
    await gl.mention(bot, thread, "@forgebot review");
    const answer = await reply(gl, thread, 1);
    const answerMs = Date.now() - began;
    await waitForQuiet(bot);
    beforeSubmit = null;
    gitlab.rules = [];

    const session = (await sessionOf("gitlab", thread))!;
    expect(session).toMatchObject({ status: "finished", errorReason: null });
    const notes = gitlabFake.botNotes({ iid: thread.number }).filter((n) => n.noteable === "merge_requests");
    const summaries = notes.filter((n) => n.body.includes(`<!-- forgebot:review session=${session.id} -->`));
    const inline = notes.filter((n) => n.body.includes(`<!-- forgebot:review session=${session.id} comment=`));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.deleted).toBe(false);
    expect(gitlabFake.drafts.filter((d) => d.iid === thread.number)).toEqual([]);
    if (stale) {
      expect(inline.map((n) => n.body.includes("comment=1"))).toEqual([true]);
      expect(summaries[0]!.body).toContain("`src/app.ts` line 3");
      expect(answer).toContain("could not be placed on a line of the diff");
    } else {
      expect(inline).toHaveLength(2);
    }
    expect(answer).toContain("Reviewed 1 file at `a1b2c3d`");
    answeredOnce(gl, thread, 1);

    const requests = probe.requests();
    expect(requests).toHaveLength(attempts);
    if (fault) expect(requests[0]!.fault).toBe(faultLabel(fault));
    const figure = record(name, "gitlab", "review", fault, probe, answerMs, stale ? "400 from the forge on one draft note (stale position)" : undefined);
    if (minWaitMs) expect(figure.waitedMs).toBeGreaterThanOrEqual(minWaitMs - 50);
  }, 60_000);
});
