import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type FakeFile } from "../../helpers/fake-github.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";
import {
  APP_HEAD,
  APP_INCREMENT_PATCH,
  APP_NEXT_PATCH,
  APP_PATCH,
  applySuggestions,
  BASE,
  BIG_PATCH,
  C_LINES,
  C_PATCH_FULL,
  GROUP_ONE,
  GROUP_TWO,
  HEAD,
  INCREMENT,
  LOCK_PATCH,
  NEXT_HEAD,
  SETTINGS,
  suggestionIn,
} from "./fixtures.js";

const REPO = "Codertocat/Hello-World";

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let model: FakeOpenAI;
let delivery = 0;
let commentId = 8_000_000;

const FILES: FakeFile[] = [
  { filename: "docs/notes.md", status: "modified", patch: "@@ -1 +1 @@\n-old\n+new", changes: 2 },
  { filename: "package-lock.json", status: "modified", patch: LOCK_PATCH, changes: 2 },
  { filename: "assets/logo.png", status: "added", changes: 0 },
  { filename: "src/app.ts", status: "modified", patch: APP_PATCH, changes: 5 },
  { filename: "src/big.ts", status: "added", patch: BIG_PATCH, changes: 60 },
  { filename: "src/c.ts", status: "renamed", previous_filename: "src/old-c.ts", patch: C_PATCH_FULL, changes: 42 },
];

/** A mention in a pull request's conversation (an issue comment on a pull request). */
async function mention(pr: number, body: string): Promise<void> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.issue.number = pr;
    p.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr}` };
    p.comment.id = ++commentId;
    p.comment.body = body;
    p.comment.created_at = new Date().toISOString();
  });
  const text = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `review-${++delivery}`, text), body: text });
  expect(res.status).toBe(202);
}

function replies(pr: number) {
  return github.live({ number: pr }).filter((c) => c.body.includes("forgebot:reply"));
}

/** Group 1 reads a file first, then submits; group 2 submits at once; a review of the increment submits INCREMENT. */
function reviewer(r: ModelRequest): FakeReply {
  if (r.raw.includes("### src/app.ts") && r.raw.includes("### src/big.ts")) {
    return r.toolResults === 0 ? { kind: "tools", calls: [{ name: "read_file", input: { path: "src/app.ts" } }] } : { kind: "tools", calls: [GROUP_ONE] };
  }
  if (r.raw.includes("### src/c.ts")) return { kind: "tools", calls: [GROUP_TWO] };
  if (r.raw.includes("line 14 added later")) return { kind: "tools", calls: [INCREMENT] };
  return { kind: "tools", calls: [{ name: "submit_review", input: { findings: [] } }] };
}

function pullRequest(pr: number, files: FakeFile[] = FILES) {
  github.threads.set(`${REPO}#${pr}`, { title: "Numbers", body: "Renames the numbers.", author: "octo", headSha: HEAD, baseSha: BASE, files });
  github.files.set(".forgebot.yml", SETTINGS);
  github.files.set("src/app.ts", `${APP_HEAD.join("\n")}\n`);
}

async function sessionRow(pr: number, index = 0) {
  const { rows } = await database.db.query("SELECT id, status, flow, command, error_reason, reply_note_id FROM sessions WHERE thread_number = $1 ORDER BY id", [pr]);
  return rows[index] as { id: number; status: string; flow: string; command: string; error_reason: string | null; reply_note_id: string | null } | undefined;
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI(reviewer).start();
  bot = await startTestBot({
    databaseUrl: database.url,
    // AGENT_MAX_TOKENS sizes the review's groups: about 1,000 diff tokens each, so these files make two.
    env: { OPENAI_BASE_URL: model.baseUrl, OPENAI_MODEL: "fake-model", OPENAI_API_KEY: "test-key", AGENT_MODEL_RETRIES: "0", AGENT_MAX_TOKENS: "36000" },
  });
});

afterAll(async () => {
  await bot.stop();
  await model.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  github = new FakeGitHub();
  nockGitHub(github);
  model.requests.length = 0;
  model.script = reviewer;
});

describe("review sessions on GitHub", () => {
  it("posts one review with inline comments and applicable suggestions, replies, and shows the findings on the page", async () => {
    const pr = 201;
    pullRequest(pr);
    await mention(pr, "@forgebot review focus on naming");
    const reply = await waitFor("the reply", () => replies(pr)[0], 30_000);

    // One review, as a comment (never an approval), on the commit the review read.
    expect(github.reviews).toHaveLength(1);
    const review = github.reviews[0]!;
    const session = (await sessionRow(pr))!;
    expect(session).toMatchObject({ status: "finished", flow: "review", command: "review" });
    expect(review).toMatchObject({ event: "COMMENT", commitId: HEAD });
    expect(review.body).toContain(`<!-- forgebot:review session=${session.id} -->`);
    const reviewRequests = github.requests.filter((r) => r.method === "POST" && r.path.endsWith("/reviews"));
    expect(reviewRequests).toHaveLength(1);
    expect(Object.keys(reviewRequests[0]!.body as object).sort()).toEqual(["body", "comments", "commit_id", "event"]);

    // Six findings inline, on the lines they name; the one outside the diff in the summary; the malformed one dropped.
    const byLine = review.comments.map((c) => [c.path, c.start_line, c.start_side, c.line, c.side]);
    expect(byLine).toEqual([
      ["src/app.ts", null, null, 3, "RIGHT"],
      ["src/app.ts", 11, "RIGHT", 12, "RIGHT"],
      ["src/c.ts", null, null, 2, "RIGHT"],
      ["src/app.ts", null, null, 12, "LEFT"],
      ["src/app.ts", null, null, 13, "RIGHT"],
      ["src/big.ts", 1, "RIGHT", 3, "RIGHT"],
    ]);
    expect(review.comments[3]!.body).not.toContain("```suggestion");
    expect(review.body).toMatch(/Findings not placed on a line of the diff[\s\S]*`src\/app.ts` line 7 \(the lines are not in the diff\): Line 7 is not part of this change\./);
    expect(review.body).toContain("1 finding from the model was malformed and dropped.");
    expect(review.body).toMatch(/`package-lock.json`: lockfile[\s\S]*`assets\/logo.png`: binary/);
    expect(review.body).toContain("`docs/notes.md`: `review.ignore`");

    // The suggestions apply: each block replaces exactly the lines it is on.
    const app = review.comments.filter((c) => c.path === "src/app.ts" && suggestionIn(c.body));
    expect(app.map((c) => suggestionIn(c.body)!.header)).toEqual(["suggestion", "suggestion"]);
    const applied = applySuggestions(APP_HEAD, app.map((c) => ({ first: c.start_line ?? c.line, last: c.line, content: suggestionIn(c.body)!.content })));
    expect(applied).toEqual(["line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "added eleven", "added twelve", "line 11", "line 13"]);
    const c = review.comments.find((x) => x.path === "src/c.ts")!;
    expect(applySuggestions(C_LINES, [{ first: c.line, last: c.line, content: suggestionIn(c.body)!.content }]).slice(0, 3)).toEqual(["const a = 1;", "const c = 3;", C_LINES[2]]);

    // Two groups, each in its own context window: the second request carries neither the first group's diff nor its findings.
    expect(model.requests).toHaveLength(3);
    expect(model.requests[0]!.raw).toContain("focus on naming");
    expect(model.requests[0]!.raw).toContain("Pay attention to error handling.");
    expect(model.requests[1]!.raw).toContain("line three"); // the file read_file returned
    expect(model.requests[2]!.raw).toContain("### src/c.ts (renamed from src/old-c.ts)");
    expect(model.requests[2]!.raw).not.toContain("src/big.ts");
    expect(model.requests[2]!.raw).not.toContain("Keep the numbering consistent");
    for (const r of model.requests) expect(r.raw).not.toContain("package-lock.json");

    // The reply: counts by severity, files reviewed and skipped, the link to the review, the bad settings key, the session.
    expect(reply.body).toContain("Reviewed 3 files at `a1b2c3d` (the whole change): 7 findings: 1 high, 3 medium, 2 low, 1 nit, 6 inline comments.");
    expect(reply.body).toContain(`[the review](${review.html_url})`);
    expect(reply.body).toContain("1 finding could not be placed on a line of the diff");
    expect(reply.body).toMatch(/Not reviewed: `docs\/notes.md` \(`review.ignore`\), `package-lock.json` \(lockfile\), `assets\/logo.png` \(binary or no textual diff\)/);
    expect(reply.body).toContain("`.forgebot.yml` has problems, so the defaults were used for `review.bogus`");
    const link = /\[View session\]\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(reply.body)![1]!;

    // The page lists the findings with file, lines, severity, the suggested change as a diff and a link to the comment.
    const html = await (await fetch(`${bot.baseUrl}${link}`)).text();
    expect(html).toContain("Review findings");
    const posted = review.comments.find((x) => x.line === 12 && x.side === "RIGHT")!;
    expect(html).toContain(`href="${posted.html_url}"`);
    expect(html).toMatch(/src\/app.ts[\s\S]{0,200}lines 11–12[\s\S]{0,400}Medium/);
    expect(html).toMatch(/<del>-added 11<\/del>[\s\S]*<ins>\+added eleven<\/ins>/);
    expect(html).toContain("the lines are not in the diff");

    const metrics = await (await fetch(`${bot.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/forgebot_reviews_total\{forge="github",outcome="posted"\} [1-9]/);
    expect(metrics).toMatch(/forgebot_review_comments_total\{forge="github",outcome="inline"\} [1-9]/);
    expect(metrics).toMatch(/forgebot_review_comments_total\{forge="github",outcome="summary"\} [1-9]/);
    expect(metrics).toMatch(/forgebot_forge_writes_total\{forge="github",kind="review",outcome="ok"\} [1-9]/);

    const api = (await (await fetch(`${bot.baseUrl}/api${link}`)).json()) as { review: { findings: { path: string; placement: string; url: string | null }[]; headSha: string } };
    expect(api.review.headSha).toBe(HEAD);
    expect(api.review.findings.filter((f) => f.placement === "inline")).toHaveLength(6);
    expect(api.review.findings.filter((f) => f.placement === "inline").every((f) => f.url?.startsWith("https://github.test/"))).toBe(true);
  });

  it("a second review covers only what changed since the first and says so; nothing new posts nothing; `review all` covers everything", async () => {
    const pr = 202;
    pullRequest(pr);
    await mention(pr, "@forgebot review");
    await waitFor("the first reply", () => replies(pr)[0], 30_000);
    expect(github.reviews).toHaveLength(1);

    // Nothing pushed since: no model call, no review.
    model.requests.length = 0;
    await mention(pr, "@forgebot review");
    const same = await waitFor("the reply to the repeat", () => replies(pr)[1], 30_000);
    expect(same.body).toContain("Nothing changed since my last review at `a1b2c3d`");
    expect(model.requests).toHaveLength(0);
    expect(github.reviews).toHaveLength(1);

    // One more line pushed.
    const thread = github.threads.get(`${REPO}#${pr}`)!;
    const next = FILES.map((f) => (f.filename === "src/app.ts" ? { ...f, patch: APP_NEXT_PATCH } : f));
    github.threads.set(`${REPO}#${pr}`, { ...thread, headSha: NEXT_HEAD, files: next, earlier: { [HEAD]: FILES } });
    github.compares.set(`${REPO}:${HEAD}...${NEXT_HEAD}`, { status: "ahead", files: [{ filename: "src/app.ts", status: "modified", patch: APP_INCREMENT_PATCH, changes: 1 }] });
    await mention(pr, "@forgebot review");
    const second = await waitFor("the second review's reply", () => replies(pr)[2], 30_000);
    expect(github.reviews).toHaveLength(2);
    expect(model.requests).toHaveLength(1);
    expect(model.requests[0]!.raw).toContain("### src/app.ts");
    expect(model.requests[0]!.raw).not.toContain("src/big.ts");
    expect(model.requests[0]!.raw).toContain("what changed since my last review at a1b2c3d");
    expect(second.body).toContain("Reviewed 1 file at `b2c3d4e` (what changed since my last review at `a1b2c3d`)");
    // Anchored on the whole diff at the new head: line 15 is in it.
    expect(github.reviews[1]!).toMatchObject({ commitId: NEXT_HEAD, comments: [expect.objectContaining({ path: "src/app.ts", line: 15, side: "RIGHT" })] });

    model.requests.length = 0;
    await mention(pr, "@forgebot review all");
    const all = await waitFor("the `review all` reply", () => replies(pr)[3], 30_000);
    expect(all.body).toContain("Reviewed 3 files at `b2c3d4e` (the whole change, as asked)");
    expect(model.requests.some((r) => r.raw.includes("### src/big.ts"))).toBe(true);
    expect(github.reviews).toHaveLength(3);
  });

  it("a diff comment starts a review too, answered in its review thread", async () => {
    const payload = githubExample("pull_request_review_comment", "created", (p) => {
      p.comment.body = "@forgebot review";
      p.comment.in_reply_to_id = 111;
    });
    const pr = payload.pull_request.number as number;
    pullRequest(pr, FILES.filter((f) => f.filename === "src/c.ts"));
    const text = JSON.stringify(payload);
    expect((await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("pull_request_review_comment", `review-${++delivery}`, text), body: text })).status).toBe(202);
    const reply = await waitFor("the reply in the review thread", () => github.live({ kind: "review_comment" }).find((c) => c.body.includes("forgebot:reply")), 30_000);
    expect(reply.inReplyTo).toBe(111);
    expect(github.reviews).toHaveLength(1);
    expect(github.reviews[0]!.comments.map((c) => c.path)).toEqual(["src/c.ts"]);
  });

  it("on an issue: one fixed line, no session, no model call", async () => {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.issue.number = 203;
      delete p.issue.pull_request;
      p.comment.id = ++commentId;
      p.comment.body = "@forgebot review";
    });
    const text = JSON.stringify(payload);
    const key = `review-${++delivery}`;
    expect((await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", key, text), body: text })).status).toBe(202);
    const note = await waitFor("the notice", () => github.live({ number: 203 })[0]);
    expect(note.body.split("\n")[0]).toBe("Reviews work on pull requests: mention me with `review` in a pull request's thread.");
    const rows = await waitFor("the delivery processed", async () => {
      const result = await database.db.query("SELECT status, session_id FROM webhook_deliveries WHERE delivery_key = $1", [key]);
      return result.rows[0]?.status === "received" ? null : result.rows;
    });
    expect(rows).toEqual([{ status: "review_refused", session_id: null }]);
    expect(await sessionRow(203)).toBeUndefined();
    expect(model.requests).toHaveLength(0);
    expect(github.live({ number: 203 })).toHaveLength(1);
  });

  it("the head moving while reviewing: the review goes on the commit it read, and the reply says so", async () => {
    const pr = 204;
    pullRequest(pr, FILES.filter((f) => f.filename === "src/app.ts"));
    model.script = (r) => {
      // A push lands while the model works: the old head stays part of the pull request.
      const thread = github.threads.get(`${REPO}#${pr}`)!;
      github.threads.set(`${REPO}#${pr}`, { ...thread, headSha: NEXT_HEAD, files: [{ filename: "src/app.ts", status: "modified", patch: APP_NEXT_PATCH }], earlier: { [HEAD]: thread.files ?? [] } });
      return reviewer({ ...r, raw: `${r.raw} ### src/big.ts`, toolResults: 1 });
    };
    await mention(pr, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(pr)[0], 30_000);
    expect(github.reviews).toHaveLength(1);
    expect(github.reviews[0]!.commitId).toBe(HEAD);
    expect(github.reviews[0]!.comments.length).toBeGreaterThan(0);
    expect(reply.body).toContain("The pull request moved to `b2c3d4e` while I was reviewing; the review is on `a1b2c3d`, the commit I read.");
  });

  it("a force-push between reading and posting: GitHub refuses the comments (422), the review is posted once with every finding in its summary", async () => {
    const pr = 205;
    pullRequest(pr, FILES.filter((f) => f.filename === "src/app.ts"));
    model.script = (r) => {
      // The head the review read is force-pushed away: GitHub no longer accepts it as commit_id.
      const thread = github.threads.get(`${REPO}#${pr}`)!;
      github.threads.set(`${REPO}#${pr}`, { ...thread, headSha: NEXT_HEAD, files: [{ filename: "src/app.ts", status: "modified", patch: APP_NEXT_PATCH }] });
      return reviewer({ ...r, raw: `${r.raw} ### src/big.ts`, toolResults: 1 });
    };
    await mention(pr, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(pr)[0], 30_000);
    const posts = github.requests.filter((r) => r.method === "POST" && r.path.endsWith("/reviews"));
    expect(posts).toHaveLength(2);
    expect(github.reviews).toHaveLength(1);
    expect(github.reviews[0]!.comments).toEqual([]);
    expect(github.reviews[0]!.body).toContain("GitHub refused the inline comments (422");
    expect(github.reviews[0]!.body).toContain("`src/app.ts` lines 11–12");
    expect(reply.body).toContain("could not be placed on a line of the diff");
    expect((await sessionRow(pr))!.status).toBe("finished");
  });

  it("a reviewer stopped at the session's step limit: the groups done are posted once, and the reply says what was not reviewed", async () => {
    const pr = 210;
    pullRequest(pr);
    // Group 2 never submits: it reads the same file until the session runs out of steps.
    model.script = (r) => (r.raw.includes("### src/c.ts") ? { kind: "tools", calls: [{ name: "read_file", input: { path: "src/app.ts" } }] } : reviewer(r));
    await mention(pr, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(pr)[0], 30_000);
    expect((await sessionRow(pr))!.status).toBe("finished");
    expect(github.reviews).toHaveLength(1);
    expect(github.reviews[0]!.comments.map((c) => c.path)).not.toContain("src/c.ts");
    expect(github.reviews[0]!.comments).toHaveLength(5);
    expect(reply.body).toContain("Reviewed 2 files");
    expect(reply.body).toContain("`src/c.ts` (past this review's size limit)");
    expect(reply.body).toContain("The review stopped after 1 group of files at this session's step limit; the files after them were not reviewed.");
  });

  it.each([
    ["refuses to serve the diff (500)", 500],
    ["no longer has the pull request (404)", 404],
  ])("a forge that %s: the session fails with a fixed text and posts no review", async (_what, status) => {
    const pr = 206 + status;
    pullRequest(pr);
    github.interceptors.push((r) => (r.path.endsWith(`/pulls/${pr}/files`) ? [status, { message: "nope" }] : undefined));
    await mention(pr, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(pr)[0], 30_000);
    expect(reply.body).toContain("I couldn't read this change's diff from the forge");
    expect((await sessionRow(pr))).toMatchObject({ status: "failed", error_reason: "review_diff_unavailable" });
    expect(github.reviews).toHaveLength(0);
    expect(model.requests).toHaveLength(0);
  });
});
