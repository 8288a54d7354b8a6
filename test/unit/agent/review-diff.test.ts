import { describe, expect, it } from "@jest/globals";
import { anchorRange, findFile, parseHunks, type DiffSide, type FileDiff } from "../../../src/agent/review/diff.js";

/** A modification in two hunks: line 3 changed, two lines added after old line 10, one removed. */
const MODIFIED = [
  "@@ -1,5 +1,5 @@",
  " line 1",
  " line 2",
  "-line 3",
  "+line three",
  " line 4",
  " line 5",
  "@@ -10,4 +10,5 @@ function tail() {",
  " line 10",
  "+added 11",
  "+added 12",
  " line 11",
  "-line 12",
  " line 13",
].join("\n");

const NEW_FILE = ["@@ -0,0 +1,3 @@", "+one", "+two", "+three"].join("\n");
const DELETED_FILE = ["@@ -1,2 +0,0 @@", "-gone 1", "-gone 2"].join("\n");
/** The last line changes and, before and after, the file has no final newline. */
const NO_NEWLINE = ["@@ -1,2 +1,2 @@", " first", "-last", "\\ No newline at end of file", "+LAST", "\\ No newline at end of file"].join("\n");
/** A final newline added: the old last line had none. */
const NEWLINE_ADDED = ["@@ -1 +1 @@", "-only", "\\ No newline at end of file", "+only"].join("\n");
/** A header before the hunk (as GitLab's compare or a raw git diff can carry) and a trimmed blank context line. */
const WITH_HEADERS = ["diff --git a/x b/x", "index 1..2 100644", "--- a/x", "+++ b/x", "@@ -1,3 +1,3 @@", " a", "", "-c", "+C", ""].join("\n");

describe("parseHunks", () => {
  const cases: [string, string, { oldStart: number; oldLines: number; newStart: number; newLines: number; lines: [string, number | null, number | null][] }[]][] = [
    [
      "a modification in two hunks",
      MODIFIED,
      [
        { oldStart: 1, oldLines: 5, newStart: 1, newLines: 5, lines: [["context", 1, 1], ["context", 2, 2], ["removed", 3, null], ["added", null, 3], ["context", 4, 4], ["context", 5, 5]] },
        { oldStart: 10, oldLines: 4, newStart: 10, newLines: 5, lines: [["context", 10, 10], ["added", null, 11], ["added", null, 12], ["context", 11, 13], ["removed", 12, null], ["context", 13, 14]] },
      ],
    ],
    ["a new file", NEW_FILE, [{ oldStart: 0, oldLines: 0, newStart: 1, newLines: 3, lines: [["added", null, 1], ["added", null, 2], ["added", null, 3]] }]],
    ["a deleted file", DELETED_FILE, [{ oldStart: 1, oldLines: 2, newStart: 0, newLines: 0, lines: [["removed", 1, null], ["removed", 2, null]] }]],
    ["no newline at end of file on both sides", NO_NEWLINE, [{ oldStart: 1, oldLines: 2, newStart: 1, newLines: 2, lines: [["context", 1, 1], ["removed", 2, null], ["added", null, 2]] }]],
    ["a header without counts", NEWLINE_ADDED, [{ oldStart: 1, oldLines: 1, newStart: 1, newLines: 1, lines: [["removed", 1, null], ["added", null, 1]] }]],
    ["git headers skipped, a trimmed blank context line kept", WITH_HEADERS, [{ oldStart: 1, oldLines: 3, newStart: 1, newLines: 3, lines: [["context", 1, 1], ["context", 2, 2], ["removed", 3, null], ["added", null, 3]] }]],
    ["an empty patch", "", []],
  ];
  it.each(cases)("%s", (_name, patch, expected) => {
    const hunks = parseHunks(patch);
    expect(hunks.map((h) => ({ oldStart: h.oldStart, oldLines: h.oldLines, newStart: h.newStart, newLines: h.newLines, lines: h.lines.map((l) => [l.kind, l.oldLine, l.newLine]) }))).toEqual(expected);
  });

  it("marks the lines followed by `\\ No newline at end of file`, and never counts the marker as a line", () => {
    const [hunk] = parseHunks(NO_NEWLINE);
    expect(hunk!.lines.map((l) => [l.text, l.noNewline])).toEqual([["first", false], ["last", true], ["LAST", true]]);
    const [added] = parseHunks(NEWLINE_ADDED);
    expect(added!.lines.map((l) => [l.text, l.noNewline])).toEqual([["only", true], ["only", false]]);
  });

  it("keeps both line counters on every line, as GitLab's line codes need", () => {
    const [, second] = parseHunks(MODIFIED);
    expect(second!.lines.map((l) => [l.kind, l.oldPos, l.newPos])).toEqual([
      ["context", 10, 10],
      ["added", 11, 11],
      ["added", 11, 12],
      ["context", 11, 13],
      ["removed", 12, 14],
      ["context", 13, 14],
    ]);
    expect(parseHunks(NEW_FILE)[0]!.lines.map((l) => [l.oldPos, l.newPos])).toEqual([[0, 1], [0, 2], [0, 3]]);
  });
});

describe("anchorRange", () => {
  const modified: FileDiff = { path: "src/app.ts", oldPath: "src/app.ts", hunks: parseHunks(MODIFIED) };
  const renamed: FileDiff = { path: "src/new-name.ts", oldPath: "src/old-name.ts", hunks: parseHunks(MODIFIED) };
  const created: FileDiff = { path: "src/created.ts", oldPath: "src/created.ts", hunks: parseHunks(NEW_FILE) };
  const deleted: FileDiff = { path: "src/deleted.ts", oldPath: "src/deleted.ts", hunks: parseHunks(DELETED_FILE) };
  const noNewline: FileDiff = { path: "README", oldPath: "README", hunks: parseHunks(NO_NEWLINE) };

  type Case = [string, FileDiff, DiffSide, number, number, { texts: string[] } | { reason: string }];
  const cases: Case[] = [
    ["an added line", modified, "new", 3, 3, { texts: ["line three"] }],
    ["a context line on the new side", modified, "new", 13, 13, { texts: ["line 11"] }],
    ["a context line on the old side, by its old number", modified, "old", 11, 11, { texts: ["line 11"] }],
    ["a removed line", modified, "old", 3, 3, { texts: ["line 3"] }],
    ["a removed line inside a range of the old side", modified, "old", 10, 13, { texts: ["line 10", "line 11", "line 12", "line 13"] }],
    ["a multi-line range of added and context lines", modified, "new", 10, 13, { texts: ["line 10", "added 11", "added 12", "line 11"] }],
    ["a line outside the diff", modified, "new", 7, 7, { reason: "line_not_in_diff" }],
    ["a range running past its hunk", modified, "new", 13, 16, { reason: "line_not_in_diff" }],
    ["a range across two hunks", modified, "new", 4, 11, { reason: "range_spans_hunks" }],
    ["new line 12 is the added line, not old line 12 (removed)", modified, "new", 12, 12, { texts: ["added 12"] }],
    ["an old number that only the new side has", modified, "old", 14, 14, { reason: "line_not_in_diff" }],
    ["a reversed range", modified, "new", 5, 2, { reason: "bad_range" }],
    ["line 0", modified, "new", 0, 0, { reason: "bad_range" }],
    ["a renamed file's new side", renamed, "new", 11, 12, { texts: ["added 11", "added 12"] }],
    ["a renamed file's old side", renamed, "old", 12, 12, { texts: ["line 12"] }],
    ["a new file", created, "new", 1, 3, { texts: ["one", "two", "three"] }],
    ["a new file has no old side", created, "old", 1, 1, { reason: "line_not_in_diff" }],
    ["a deleted file's removed lines", deleted, "old", 1, 2, { texts: ["gone 1", "gone 2"] }],
    ["a deleted file has no new side", deleted, "new", 1, 1, { reason: "line_not_in_diff" }],
    ["the last line of a file without a final newline", noNewline, "new", 2, 2, { texts: ["LAST"] }],
    ["a range ending on the last line without a final newline", noNewline, "new", 1, 2, { texts: ["first", "LAST"] }],
    ["past the last line of a file without a final newline", noNewline, "new", 3, 3, { reason: "line_not_in_diff" }],
  ];
  it.each(cases)("%s", (_name, file, side, start, end, expected) => {
    const anchor = anchorRange(file, side, start, end);
    if ("reason" in expected) {
      expect(anchor).toEqual({ ok: false, reason: expected.reason });
      return;
    }
    if (!anchor.ok) throw new Error(`not anchored: ${anchor.reason}`);
    expect(anchor.lines.map((l) => l.text)).toEqual(expected.texts);
    expect(anchor.start).toBe(anchor.lines[0]);
    expect(anchor.end).toBe(anchor.lines[anchor.lines.length - 1]);
    const numbers = anchor.lines.map((l) => (side === "new" ? l.newLine : l.oldLine));
    expect(numbers).toEqual(Array.from({ length: end - start + 1 }, (_, i) => start + i));
  });
});

describe("findFile", () => {
  const files: FileDiff[] = [
    { path: "src/new-name.ts", oldPath: "src/old-name.ts", hunks: [] },
    { path: "a/literal.ts", oldPath: "a/literal.ts", hunks: [] },
    { path: "lib/x.ts", oldPath: "lib/x.ts", hunks: [] },
  ];
  const cases: [string, string, string | null][] = [
    ["the new path", "src/new-name.ts", "src/new-name.ts"],
    ["a renamed file's old path", "src/old-name.ts", "src/new-name.ts"],
    ["a leading ./", "./lib/x.ts", "lib/x.ts"],
    ["git's b/ prefix", "b/lib/x.ts", "lib/x.ts"],
    ["a real a/ directory stays", "a/literal.ts", "a/literal.ts"],
    ["a file not in the diff", "lib/y.ts", null],
  ];
  it.each(cases)("%s", (_name, path, expected) => {
    expect(findFile(files, path)?.path ?? null).toBe(expected);
  });
});
