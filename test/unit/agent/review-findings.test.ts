import { describe, expect, it } from "@jest/globals";
import { MAX_INLINE_COMMENTS, parseFinding, parseSubmission, placeFindings, reviewComments } from "../../../src/agent/review/findings.js";
import type { ReviewFinding } from "../../../src/agent/review/store.js";
import { githubSuggestion } from "../../../src/forges/github/review.js";
import { draftPosition, gitlabSuggestion } from "../../../src/forges/gitlab/review.js";
import type { ChangeFile } from "../../../src/sessions/review-port.js";

const PATCH = ["@@ -1,3 +1,4 @@", " a", "-b", "+B", "+C", " d", "@@ -20,2 +21,2 @@", " x", "-y", "+Y"].join("\n");
const FILES: ChangeFile[] = [
  { path: "src/x.ts", oldPath: "src/x.ts", status: "modified", patch: PATCH },
  { path: "src/new.ts", oldPath: "src/old.ts", status: "renamed", patch: PATCH },
  { path: "img.png", oldPath: "img.png", status: "added", patch: null, omitted: "binary" },
];

const finding = (over: Partial<ReviewFinding>): ReviewFinding => ({ path: "src/x.ts", side: "new", startLine: 2, severity: "medium", body: "b", replacement: null, ...over, endLine: over.endLine ?? over.startLine ?? 2 });

describe("parseFinding", () => {
  const cases: [string, unknown, Partial<ReviewFinding> | null][] = [
    ["a complete finding", { path: "a.ts", side: "new", start_line: 3, end_line: 4, severity: "high", body: "x", replacement: ["y"] }, { path: "a.ts", side: "new", startLine: 3, endLine: 4, severity: "high", replacement: ["y"] }],
    ["end_line defaults to start_line", { path: "a.ts", start_line: 3, body: "x" }, { startLine: 3, endLine: 3, side: "new" }],
    ["numbers given as strings", { path: "a.ts", start_line: "3", end_line: " 5 ", body: "x" }, { startLine: 3, endLine: 5 }],
    ["a reversed range is the same lines", { path: "a.ts", start_line: 9, end_line: 7, body: "x" }, { startLine: 7, endLine: 9 }],
    ["GitHub's side words", { path: "a.ts", side: "LEFT", line: 3, body: "x" }, { side: "old", startLine: 3 }],
    ["severity synonyms", { path: "a.ts", start_line: 1, body: "x", severity: "Critical" }, { severity: "high" }],
    ["an unknown severity is medium", { path: "a.ts", start_line: 1, body: "x", severity: "spicy" }, { severity: "medium" }],
    ["a replacement as one string", { path: "a.ts", start_line: 1, body: "x", replacement: "p\nq\n" }, { replacement: ["p", "q"] }],
    ["an empty replacement deletes the lines", { path: "a.ts", start_line: 1, body: "x", replacement: [] }, { replacement: [] }],
    ["markers are stripped from the text", { path: "a.ts", start_line: 1, body: "x <!-- forgebot:review session=1 -->" }, { body: "x" }],
    ["no path", { start_line: 1, body: "x" }, null],
    ["no line", { path: "a.ts", body: "x" }, null],
    ["line 0", { path: "a.ts", start_line: 0, body: "x" }, null],
    ["a fractional line", { path: "a.ts", start_line: 1.5, body: "x" }, null],
    ["no text", { path: "a.ts", start_line: 1, body: "  " }, null],
    ["an unknown side", { path: "a.ts", start_line: 1, body: "x", side: "middle" }, null],
    ["a replacement that is not lines", { path: "a.ts", start_line: 1, body: "x", replacement: [1, 2] }, null],
    ["not an object", "src/a.ts:3 fix it", null],
  ];
  it.each(cases)("%s", (_name, raw, expected) => {
    const parsed = parseFinding(raw);
    if (expected === null) expect(parsed).toBeNull();
    else expect(parsed).toMatchObject(expected);
  });

  it("counts what it drops and keeps the rest of the submission", () => {
    expect(parseSubmission({ summary: " ok ", findings: [{ path: "a", start_line: 1, body: "x" }, { path: "a" }, 7] })).toMatchObject({ malformed: 2, summary: "ok", findings: [{ path: "a" }] });
    expect(parseSubmission("not an object")).toEqual({ findings: [], malformed: 1, summary: null });
    expect(parseSubmission({})).toEqual({ findings: [], malformed: 0, summary: null });
  });
});

describe("placeFindings", () => {
  const cases: [string, Partial<ReviewFinding>, { placement: string; reason?: string | null; path?: string; original?: string[] | null; applicable?: boolean }][] = [
    ["an added line", { startLine: 2 }, { placement: "inline", original: ["B"], applicable: false }],
    ["a suggestion on the new side is applicable", { startLine: 2, endLine: 3, replacement: ["b2", "c2"] }, { placement: "inline", original: ["B", "C"], applicable: true }],
    ["a removed line", { side: "old", startLine: 2 }, { placement: "inline", original: ["b"] }],
    ["a replacement of removed lines is kept, not applicable", { side: "old", startLine: 2, replacement: ["z"] }, { placement: "inline", applicable: false, reason: "a replacement of removed lines cannot be applied" }],
    ["a renamed file by its old path", { path: "src/old.ts", side: "old", startLine: 21 }, { placement: "inline", path: "src/new.ts", original: ["y"] }],
    ["a line outside the diff", { startLine: 10 }, { placement: "summary", reason: "the lines are not in the diff" }],
    ["a range across hunks", { startLine: 4, endLine: 21 }, { placement: "summary", reason: "the lines span separate parts of the diff" }],
    ["a file outside the diff", { path: "src/other.ts" }, { placement: "summary", reason: "the file is not part of this change's diff" }],
    ["a file without a textual diff", { path: "img.png", startLine: 1 }, { placement: "summary", reason: "the file is not part of this change's diff" }],
  ];
  it.each(cases)("%s", (_name, over, expected) => {
    const [placed] = placeFindings([finding(over)], FILES);
    expect(placed).toMatchObject(expected);
  });

  it("numbers inline comments in order, most severe first, drops duplicates, and sends the surplus to the summary", () => {
    const many = Array.from({ length: MAX_INLINE_COMMENTS + 2 }, (_, i) => finding({ body: `n${i}`, severity: i === MAX_INLINE_COMMENTS + 1 ? "high" : "low" }));
    const placed = placeFindings([...many, finding({ body: "n0", severity: "low" })], FILES);
    expect(placed).toHaveLength(MAX_INLINE_COMMENTS + 2);
    expect(placed[0]).toMatchObject({ severity: "high", comment: 0 });
    expect(placed.filter((p) => p.placement === "inline").map((p) => p.comment)).toEqual(Array.from({ length: MAX_INLINE_COMMENTS }, (_, i) => i));
    expect(placed.filter((p) => p.placement === "summary").map((p) => p.reason)).toEqual([`more than ${MAX_INLINE_COMMENTS} inline comments`, `more than ${MAX_INLINE_COMMENTS} inline comments`]);
  });

  it("a review of what changed since the last one: removed lines (numbered as the previous head had them) go to the summary, quoted from the increment; added lines go inline", () => {
    // The increment removes line 7 ("gone") of the previous head; the whole change's diff never showed it.
    const increment: ChangeFile[] = [{ path: "src/x.ts", oldPath: "src/x.ts", status: "modified", patch: "@@ -6,3 +6,2 @@\n six\n-gone\n eight" }];
    const [removed, added, missing] = placeFindings(
      [finding({ side: "old", startLine: 7, severity: "high" }), finding({ startLine: 2, severity: "medium" }), finding({ side: "old", startLine: 40, severity: "low" })],
      FILES,
      increment,
    );
    expect(removed).toMatchObject({ placement: "summary", original: ["gone"], reason: "the lines were removed since the last review; the whole change's diff does not show them" });
    expect(added).toMatchObject({ placement: "inline", original: ["B"] });
    expect(missing).toMatchObject({ placement: "summary", reason: "the lines are not in the diff" });
    // Without the increment, the same old-side line 2 would be anchored on the whole change's diff.
    expect(placeFindings([finding({ side: "old", startLine: 2 })], FILES)[0]).toMatchObject({ placement: "inline", original: ["b"] });
  });

  it("builds the forge comments with both line numbers and counters, and a marker per comment", () => {
    const placed = placeFindings([finding({ startLine: 1, endLine: 3, replacement: ["a", "b", "c"] }), finding({ side: "old", startLine: 2, severity: "high" })], FILES);
    const comments = reviewComments(placed, FILES, 12);
    expect(comments.map((c) => [c.start.kind, c.start.oldLine, c.start.newLine, c.end.kind, c.end.oldPos, c.end.newPos, c.suggestion, c.marker])).toEqual([
      ["removed", 2, null, "removed", 2, 2, null, "<!-- forgebot:review session=12 comment=0 -->"],
      ["context", 1, 1, "added", 3, 3, ["a", "b", "c"], "<!-- forgebot:review session=12 comment=1 -->"],
    ]);
    expect(comments[0]!.body).toBe("**High:** b");
  });
});

describe("the forges' suggestion blocks and positions", () => {
  it("GitHub: ```suggestion, with a longer fence when the lines hold backticks; empty deletes", () => {
    expect(githubSuggestion(["a", "b"])).toBe("```suggestion\na\nb\n```");
    expect(githubSuggestion(["```js", "x"])).toBe("````suggestion\n```js\nx\n````");
    expect(githubSuggestion([])).toBe("```suggestion\n```");
  });

  it("GitLab: ```suggestion:-A+0 from the range's last line", () => {
    expect(gitlabSuggestion(["a"], 0)).toBe("```suggestion:-0+0\na\n```");
    expect(gitlabSuggestion(["a", "b", "c"], 2)).toBe("```suggestion:-2+0\na\nb\nc\n```");
  });

  it("GitLab: a position names the range's last line, and a range by line codes of its first and last line", () => {
    const placed = placeFindings([finding({ startLine: 1, endLine: 3 }), finding({ startLine: 4 }), finding({ side: "old", startLine: 2 })], FILES);
    // Ordered by line: the range (1–3), the removed line (old 2), the context line (new 4).
    const [range, removed, context] = reviewComments(placed, FILES, 1);
    const refs = { baseSha: "b", startSha: "s", headSha: "h" };
    const hash = 40; // hex characters of a SHA-1
    const position = draftPosition(range!, refs) as Record<string, any>;
    expect(position).toMatchObject({ base_sha: "b", start_sha: "s", head_sha: "h", position_type: "text", old_path: "src/x.ts", new_path: "src/x.ts", new_line: 3 });
    expect(position.old_line).toBeUndefined();
    expect(position.line_range.start.line_code).toMatch(new RegExp(`^[0-9a-f]{${hash}}_1_1$`));
    expect(position.line_range).toMatchObject({ start: { type: "old" }, end: { type: "new" } });
    expect(position.line_range.end.line_code).toMatch(/_3_3$/);
    expect(draftPosition(context!, refs)).toMatchObject({ new_line: 4, old_line: 3 });
    expect(draftPosition(removed!, refs)).toMatchObject({ old_line: 2 });
    expect((draftPosition(removed!, refs) as Record<string, unknown>).new_line).toBeUndefined();
  });
});
