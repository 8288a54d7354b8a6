import type { FakeToolCall } from "../../helpers/fake-openai.js";

/**
 * One change request reviewed on both forges: its files at the head (and their patches), the
 * repository settings, and the scripted reviewer's findings. `applySuggestions` applies posted
 * suggestion blocks to a file the way the forges' "apply suggestion" buttons do.
 */

export const HEAD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
export const BASE = "0000000000000000000000000000000000000b45";
export const NEXT_HEAD = "b2c3d4e5f60718293a4b5c6d7e8f901234567890";

/** src/app.ts at the head: line 3 changed, lines 11–12 added, old line 12 removed. */
export const APP_HEAD = ["line 1", "line 2", "line three", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "added 11", "added 12", "line 11", "line 13"];
export const APP_PATCH = [
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

/** A new file big enough to fill most of a group. */
export const BIG_LINES = Array.from({ length: 60 }, (_, i) => `export const value_${String(i + 1).padStart(2, "0")} = ${i + 1};`);
export const BIG_PATCH = [`@@ -0,0 +1,${BIG_LINES.length} @@`, ...BIG_LINES.map((l) => `+${l}`)].join("\n");

/** src/c.ts, renamed from src/old-c.ts (two lines, no final newline): its second line changed, the rest added. */
export const C_LINES = ["const a = 1;", "const c = 2;", ...Array.from({ length: 40 }, (_, i) => `export const filler_${i} = "${"x".repeat(8)}";`)];
export const C_PATCH_FULL = [
  `@@ -1,2 +1,${C_LINES.length} @@`,
  " const a = 1;",
  "-const c = 1;",
  "\\ No newline at end of file",
  ...C_LINES.slice(1).map((l) => `+${l}`),
  "\\ No newline at end of file",
].join("\n");

export const LOCK_PATCH = ["@@ -1,3 +1,3 @@", " {", '-  "version": "1.0.0"', '+  "version": "1.0.1"', " }"].join("\n");

/** The increment pushed after the first review: one more line in src/app.ts. */
export const APP_NEXT_HEAD = [...APP_HEAD, "line 14 added later"];
export const APP_NEXT_PATCH = `${APP_PATCH}\n+line 14 added later`.replace("@@ -10,4 +10,5 @@", "@@ -10,4 +10,6 @@");
export const APP_INCREMENT_PATCH = ["@@ -13,2 +13,3 @@", " line 11", " line 13", "+line 14 added later"].join("\n");

export const SETTINGS = ["review:", '  ignore: ["docs/**"]', "  instructions: Pay attention to error handling.", "  bogus: 1", ""].join("\n");

/** Group 1 (src/app.ts and src/big.ts): inline, multi-line, removed-line, context-line, outside-the-diff and malformed findings. */
export const GROUP_ONE: FakeToolCall = {
  name: "submit_review",
  input: {
    summary: "Group one looks mostly fine.",
    findings: [
      { path: "src/app.ts", side: "new", start_line: 3, end_line: 3, severity: "high", body: "Keep the numbering consistent.", replacement: ["line 3"] },
      { path: "src/app.ts", side: "new", start_line: 11, end_line: 12, severity: "medium", body: "Spell the numbers out.", replacement: ["added eleven", "added twelve"] },
      { path: "src/app.ts", side: "old", start_line: 12, end_line: 12, severity: "low", body: "Was removing line 12 intended?" },
      { path: "src/app.ts", side: "new", start_line: 7, end_line: 7, severity: "medium", body: "Line 7 is not part of this change.", replacement: ["line seven"] },
      { path: "", side: "new", start_line: 1, severity: "high", body: "A finding without a path." },
      { path: "src/big.ts", side: "new", start_line: 1, end_line: 3, severity: "nit", body: "These constants could be an array." },
      { path: "src/app.ts", side: "new", start_line: 13, end_line: 13, severity: "low", body: "An unchanged line the diff shows." },
    ],
  },
};

/** Group 2 (src/c.ts): a suggestion on the renamed file. */
export const GROUP_TWO: FakeToolCall = {
  name: "submit_review",
  input: { findings: [{ path: "src/c.ts", side: "new", start_line: 2, end_line: 2, severity: "medium", body: "c should be 3.", replacement: ["const c = 3;"] }] },
};

/** The second review: one finding on the line pushed since the first. */
export const INCREMENT: FakeToolCall = {
  name: "submit_review",
  input: { findings: [{ path: "src/app.ts", side: "new", start_line: 15, end_line: 15, severity: "low", body: "Say what line 14 is for.", replacement: ["line 14 (kept for the footer)"] }] },
};

/** Applies suggestion blocks to `lines`: each replaces `first`..`last` (1-based) with its content. */
export function applySuggestions(lines: readonly string[], suggestions: { first: number; last: number; content: string[] }[]): string[] {
  const out = [...lines];
  // Bottom-up, so earlier line numbers stay valid.
  for (const s of [...suggestions].sort((a, b) => b.first - a.first)) out.splice(s.first - 1, s.last - s.first + 1, ...s.content);
  return out;
}

/** The content of the first ```suggestion… block in a comment body, and its header (`suggestion` or `suggestion:-A+B`). */
export function suggestionIn(body: string): { header: string; content: string[] } | null {
  const m = /^(`{3,})(suggestion(?::-\d+\+\d+)?)\n([\s\S]*?)\n?\1$/m.exec(body);
  if (!m) return null;
  return { header: m[2]!, content: m[3] === "" ? [] : m[3]!.split("\n") };
}
