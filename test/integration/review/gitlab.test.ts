import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab, type FakeDiff, type FakeNote } from "../../helpers/fake-gitlab.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../../helpers/fake-openai.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";
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

const SECRET = "gitlab-hook-secret";
const PROJECT = 5;
const START = "000000000000000000000000000000000000057a";

let database: TestDatabase;
let bot: TestBot;
let fake: FakeGitLab;
let model: FakeOpenAI;
let delivery = 0;
let noteId = 70_000;

/** GitLab's `diff` strings end with a newline. */
const DIFFS: FakeDiff[] = [
  { old_path: "docs/notes.md", new_path: "docs/notes.md", diff: "@@ -1 +1 @@\n-old\n+new\n" },
  { old_path: "package-lock.json", new_path: "package-lock.json", diff: `${LOCK_PATCH}\n` },
  { old_path: "assets/logo.png", new_path: "assets/logo.png", new_file: true, diff: "Binary files /dev/null and b/assets/logo.png differ\n" },
  { old_path: "src/app.ts", new_path: "src/app.ts", diff: `${APP_PATCH}\n` },
  { old_path: "src/big.ts", new_path: "src/big.ts", new_file: true, diff: `${BIG_PATCH}\n` },
  { old_path: "src/old-c.ts", new_path: "src/c.ts", renamed_file: true, diff: `${C_PATCH_FULL}\n` },
];

function reviewer(r: ModelRequest): FakeReply {
  if (r.raw.includes("### src/app.ts") && r.raw.includes("### src/big.ts")) return { kind: "tools", calls: [GROUP_ONE] };
  if (r.raw.includes("### src/c.ts")) return { kind: "tools", calls: [GROUP_TWO] };
  if (r.raw.includes("line 14 added later")) return { kind: "tools", calls: [INCREMENT] };
  return { kind: "tools", calls: [{ name: "submit_review", input: { findings: [] } }] };
}

function mergeRequest(iid: number, diffs: FakeDiff[] = DIFFS): void {
  fake.mergeRequests.set(`${PROJECT}!${iid}`, { title: "Numbers", description: "Renames the numbers.", diffRefs: { base_sha: BASE, start_sha: START, head_sha: HEAD }, diffs });
  fake.files.set(".forgebot.yml", SETTINGS);
  fake.files.set("src/app.ts", `${APP_HEAD.join("\n")}\n`);
}

/** A note mentioning the bot on merge request `iid` (or an issue), stored as GitLab would and delivered. */
async function mention(iid: number, text: string, fixture: "note-merge-request.docs-example" | "note-issue.docs-example" = "note-merge-request.docs-example"): Promise<FakeNote> {
  const id = ++noteId;
  const payload = gitlabPayload(fixture, (p) => {
    p.object_attributes.id = id;
    p.object_attributes.note = text;
    p.object_attributes.discussion_id = `d${id}`.padEnd(40, "0");
    if (p.merge_request) p.merge_request.iid = iid;
    if (p.issue) p.issue.iid = iid;
    // A public project: its session page shows everything to the link, no sign-in involved.
    p.project.visibility_level = 20;
  });
  const noteable = fixture === "note-issue.docs-example" ? "issues" : "merge_requests";
  const trigger = fake.seedNote({ id, projectId: PROJECT, noteable, iid, body: text, discussionId: payload.object_attributes.discussion_id });
  const res = await fetch(`${bot.baseUrl}/api/gitlab/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": `review-${++delivery}` },
    body: JSON.stringify(payload),
  });
  expect(res.status).toBe(202);
  return trigger;
}

const replies = (iid: number) => fake.botNotes({ iid, live: true }).filter((n) => n.body.includes("forgebot:reply"));
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI(reviewer).start();
  fake = new FakeGitLab();
  nockGitLab(fake);
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      GITLAB_URL: FAKE_GITLAB_URL,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: SECRET,
      GITLAB_NOTES_PER_MINUTE: "10000",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      AGENT_MAX_TOKENS: "36000",
    },
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
  fake = new FakeGitLab();
  nockGitLab(fake);
  model.requests.length = 0;
  model.script = reviewer;
});

describe("review sessions on GitLab", () => {
  it("publishes one review of positioned draft notes with applicable suggestions, replies in the discussion, and shows the findings on the page", async () => {
    const iid = 31;
    mergeRequest(iid);
    // A draft left by an interrupted attempt: replaced, never published.
    fake.drafts.push({ id: 1, projectId: PROJECT, iid, authorId: fake.bot.id, note: "stale\n\n<!-- forgebot:review session=999 comment=0 -->", position: null });
    const trigger = await mention(iid, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(iid)[0], 30_000);
    expect(reply.discussionId).toBe(trigger.discussionId);

    // Drafts, then one publish: one review.
    const writes = fake.writes().map((r) => `${r.method} ${r.path}`).filter((w) => w.includes("draft_notes"));
    expect(writes).toEqual([
      `DELETE /projects/${PROJECT}/merge_requests/${iid}/draft_notes/1`,
      ...Array.from({ length: 7 }, () => `POST /projects/${PROJECT}/merge_requests/${iid}/draft_notes`),
      `POST /projects/${PROJECT}/merge_requests/${iid}/draft_notes/bulk_publish`,
    ]);
    expect(fake.drafts).toHaveLength(0);
    const notes = fake.reviewNotes(iid);
    const summary = notes.find((n) => n.position === undefined)!;
    const session = (await database.db.query("SELECT id, status, flow FROM sessions WHERE thread_number = $1", [iid])).rows[0];
    expect(session).toMatchObject({ status: "finished", flow: "review" });
    expect(summary.body).toContain(`<!-- forgebot:review session=${session.id} -->`);
    expect(summary.body).toContain("`src/app.ts` line 7 (the lines are not in the diff)");
    expect(summary.body).not.toContain("stale");

    // Each diff note on the line it names, with GitLab's position fields.
    const diffNotes = notes.filter((n) => n.type === "DiffNote");
    const positions = diffNotes.map((n) => n.position as Record<string, any>);
    expect(positions.map((p) => [p.new_path, p.old_path, p.old_line ?? null, p.new_line ?? null, p.line_range ? "range" : "line"])).toEqual([
      ["src/app.ts", "src/app.ts", null, 3, "line"],
      ["src/app.ts", "src/app.ts", null, 12, "range"],
      ["src/c.ts", "src/old-c.ts", null, 2, "line"],
      ["src/app.ts", "src/app.ts", 12, null, "line"],
      ["src/app.ts", "src/app.ts", 11, 13, "line"],
      ["src/big.ts", "src/big.ts", null, 3, "range"],
    ]);
    for (const p of positions) expect(p).toMatchObject({ base_sha: BASE, start_sha: START, head_sha: HEAD, position_type: "text" });
    expect(positions[1]!.line_range).toEqual({ start: { line_code: `${sha1("src/app.ts")}_11_11`, type: "new" }, end: { line_code: `${sha1("src/app.ts")}_11_12`, type: "new" } });

    // The suggestions apply: `suggestion:-A+B` replaces A lines above to B lines below the note's line.
    const apply = (n: FakeNote) => {
      const s = suggestionIn(n.body)!;
      const [, above, below] = /^suggestion:-(\d+)\+(\d+)$/.exec(s.header)!;
      const line = (n.position as { new_line: number }).new_line;
      return { first: line - Number(above), last: line + Number(below), content: s.content };
    };
    const app = diffNotes.filter((n) => (n.position as { new_path: string }).new_path === "src/app.ts" && suggestionIn(n.body));
    expect(app.map((n) => suggestionIn(n.body)!.header)).toEqual(["suggestion:-0+0", "suggestion:-1+0"]);
    expect(applySuggestions(APP_HEAD, app.map(apply))).toEqual(["line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "added eleven", "added twelve", "line 11", "line 13"]);
    const c = diffNotes.find((n) => (n.position as { new_path: string }).new_path === "src/c.ts")!;
    expect(applySuggestions(C_LINES, [apply(c)]).slice(0, 2)).toEqual(["const a = 1;", "const c = 3;"]);

    expect(reply.body).toContain("Reviewed 3 files at `a1b2c3d` (the whole change): 7 findings: 1 high, 3 medium, 2 low, 1 nit, 6 inline comments.");
    expect(reply.body).toContain(`[the review](https://gitlab.example.com/group/project/-/merge_requests/${iid}#note_${summary.id})`);
    expect(reply.body).toContain("`package-lock.json` (lockfile)");
    expect(model.requests).toHaveLength(2);
    expect(model.requests[1]!.raw).not.toContain("src/big.ts");

    const link = /\[View session\]\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(reply.body)![1]!;
    const html = await (await fetch(`${bot.baseUrl}${link}`)).text();
    expect(html).toContain("Review findings");
    expect(html).toContain(`href="https://gitlab.example.com/group/project/-/merge_requests/${iid}#note_${diffNotes[0]!.id}"`);
    expect(html).toMatch(/<del>-line three<\/del>\s*<ins>\+line 3<\/ins>/);
  });

  it("a position GitLab refuses goes into the summary; the rest is published once", async () => {
    const iid = 32;
    mergeRequest(iid);
    fake.interceptors.push((r) =>
      r.method === "POST" && r.path.endsWith("/draft_notes") && (r.body as { position?: { new_path?: string } })?.position?.new_path === "src/c.ts"
        ? [400, { message: '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}' }]
        : undefined,
    );
    await mention(iid, "@forgebot review");
    const reply = await waitFor("the reply", () => replies(iid)[0], 30_000);
    const notes = fake.reviewNotes(iid);
    expect(notes.filter((n) => n.type === "DiffNote")).toHaveLength(5);
    const summary = notes.find((n) => n.position === undefined)!;
    expect(summary.body).toContain("`src/c.ts` line 2 (GitLab refused its position (400)): c should be 3.");
    expect(reply.body).toContain("7 findings: 1 high, 3 medium, 2 low, 1 nit, 5 inline comments");
    expect(reply.body).toContain("2 findings could not be placed on a line of the diff");
    expect(fake.writes().filter((r) => r.path.endsWith("/bulk_publish"))).toHaveLength(1);
  });

  it("a second review covers only what changed since the first, on the new diff refs", async () => {
    const iid = 33;
    mergeRequest(iid);
    await mention(iid, "@forgebot review");
    await waitFor("the first reply", () => replies(iid)[0], 30_000);
    const mr = fake.mergeRequests.get(`${PROJECT}!${iid}`)!;
    const next = DIFFS.map((d) => (d.new_path === "src/app.ts" ? { ...d, diff: `${APP_NEXT_PATCH}\n` } : d));
    fake.mergeRequests.set(`${PROJECT}!${iid}`, { ...mr, diffRefs: { ...mr.diffRefs, head_sha: NEXT_HEAD }, diffs: next, commits: [NEXT_HEAD, HEAD], earlier: { [HEAD]: { diffRefs: mr.diffRefs, diffs: mr.diffs } } });
    fake.compares.set(`${PROJECT}:${HEAD}..${NEXT_HEAD}`, [{ old_path: "src/app.ts", new_path: "src/app.ts", diff: `${APP_INCREMENT_PATCH}\n` }]);
    model.requests.length = 0;
    await mention(iid, "@forgebot review");
    const second = await waitFor("the second reply", () => replies(iid)[1], 30_000);
    expect(second.body).toContain("Reviewed 1 file at `b2c3d4e` (what changed since my last review at `a1b2c3d`)");
    expect(model.requests).toHaveLength(1);
    expect(model.requests[0]!.raw).not.toContain("src/big.ts");
    const newest = fake.reviewNotes(iid).filter((n) => n.type === "DiffNote" && (n.position as { head_sha: string }).head_sha === NEXT_HEAD);
    expect(newest.map((n) => (n.position as { new_line: number }).new_line)).toEqual([15]);
    expect(fake.requests.some((r) => r.path === `/projects/${PROJECT}/repository/compare` && r.query.get("from") === HEAD && r.query.get("to") === NEXT_HEAD)).toBe(true);
  });

  it("on an issue: one fixed line, no session, no model call", async () => {
    await mention(17, "@forgebot review", "note-issue.docs-example");
    const note = await waitFor("the notice", () => fake.botNotes({ iid: 17, live: true })[0]);
    expect(note.body.split("\n")[0]).toBe("Reviews work on merge requests: mention me with `review` in a merge request's thread.");
    expect((await database.db.query("SELECT id FROM sessions WHERE thread_number = 17")).rows).toEqual([]);
    expect(model.requests).toHaveLength(0);
  });
});
