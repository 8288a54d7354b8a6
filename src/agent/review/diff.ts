/**
 * Unified-diff hunks as both forges serve them (GitHub's `patch`, GitLab's `diff`: one file, from
 * its first `@@`), and the anchoring of a finding to lines that are in the diff. A review comment
 * may only sit on a line the diff shows: GitHub refuses the whole review otherwise (422), GitLab
 * refuses the note. Pure: no I/O, no framework.
 */

export type DiffLineKind = "added" | "removed" | "context";

/** One line of a hunk, with the numbers every forge addresses it by. */
export type DiffLine = {
  kind: DiffLineKind;
  /** The line's text without its `+`/`-`/` ` prefix. */
  text: string;
  /** Line number before the change (removed and context lines), else null. */
  oldLine: number | null;
  /** Line number after the change (added and context lines), else null. */
  newLine: number | null;
  /**
   * The old and new line counters at this line, for every kind: GitLab's line codes are
   * `<sha1(path)>_<oldPos>_<newPos>` even for an added line (whose old side has no number).
   */
  oldPos: number;
  newPos: number;
  /** Followed by `\ No newline at end of file`: the last line of its side, without a final newline. */
  noNewline: boolean;
};

export type Hunk = {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: DiffLine[];
};

/** Which side of the diff a finding is on: the file after the change, or before it. */
export type DiffSide = "new" | "old";

/** A file's diff as anchoring needs it. */
export type FileDiff = { path: string; oldPath: string; hunks: Hunk[] };

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * The hunks of one file's patch. Lines before the first `@@` (git's `diff --git`, `---`, `+++`
 * headers) are skipped; `\ No newline at end of file` marks the line before it and is not a line
 * of either side; a blank line inside a hunk is a context line whose leading space was trimmed.
 * A header without counts (`@@ -3 +3 @@`) counts one line, as git writes it.
 */
export function parseHunks(patch: string): Hunk[] {
  const hunks: Hunk[] = [];
  let hunk: Hunk | null = null;
  let oldPos = 0;
  let newPos = 0;
  const rows = patch.replace(/\r?\n$/, "").split("\n");
  for (const row of rows) {
    const header = HUNK_HEADER.exec(row);
    if (header) {
      hunk = {
        oldStart: Number(header[1]),
        oldLines: header[2] === undefined ? 1 : Number(header[2]),
        newStart: Number(header[3]),
        newLines: header[4] === undefined ? 1 : Number(header[4]),
        lines: [],
      };
      hunks.push(hunk);
      oldPos = hunk.oldStart;
      newPos = hunk.newStart;
      continue;
    }
    if (!hunk) continue;
    const sign = row[0];
    if (sign === "\\") {
      const last = hunk.lines[hunk.lines.length - 1];
      if (last) last.noNewline = true;
      continue;
    }
    const text = row.slice(1);
    if (sign === "+") {
      hunk.lines.push({ kind: "added", text, oldLine: null, newLine: newPos, oldPos, newPos, noNewline: false });
      newPos += 1;
    } else if (sign === "-") {
      hunk.lines.push({ kind: "removed", text, oldLine: oldPos, newLine: null, oldPos, newPos, noNewline: false });
      oldPos += 1;
    } else if (sign === " " || row === "") {
      hunk.lines.push({ kind: "context", text, oldLine: oldPos, newLine: newPos, oldPos, newPos, noNewline: false });
      oldPos += 1;
      newPos += 1;
    }
  }
  return hunks;
}

/** The line's number on `side`, or null when the line is not on that side. */
export function lineOn(line: DiffLine, side: DiffSide): number | null {
  return side === "new" ? line.newLine : line.oldLine;
}

/** Why a range could not be anchored; the finding then goes into the review's summary. */
export type AnchorFailure = "file_not_in_diff" | "line_not_in_diff" | "range_spans_hunks" | "bad_range";

export type Anchor =
  | {
      ok: true;
      file: FileDiff;
      side: DiffSide;
      /** The first and last line of the range (the same line for a one-line finding). */
      start: DiffLine;
      end: DiffLine;
      /** Every line of the range on its side, in order (what a suggestion replaces). */
      lines: DiffLine[];
    }
  | { ok: false; reason: AnchorFailure };

/** The file a finding names: by its path after the change, else (renames, deletions) before it. */
export function findFile(files: readonly FileDiff[], path: string): FileDiff | null {
  const clean = path.trim().replace(/^\.?\/+/, "");
  const named = (p: string) => files.find((f) => f.path === p) ?? files.find((f) => f.oldPath === p) ?? null;
  // Models sometimes keep git's `a/` / `b/` prefixes from a diff header.
  return named(clean) ?? (/^[ab]\//.test(clean) ? named(clean.slice(2)) : null);
}

/**
 * Anchors lines `startLine`..`endLine` on `side` of `file`'s diff. Every line of the range must
 * be shown by the diff, in one hunk (both forges refuse a range across hunks): context and added
 * lines on the new side, context and removed lines on the old side. Never moves or narrows the
 * range: what does not fit exactly is not anchored.
 */
export function anchorRange(file: FileDiff, side: DiffSide, startLine: number, endLine: number): Anchor {
  if (!Number.isInteger(startLine) || !Number.isInteger(endLine) || startLine < 1 || endLine < startLine) return { ok: false, reason: "bad_range" };
  const holding = (n: number) => file.hunks.findIndex((h) => h.lines.some((l) => lineOn(l, side) === n));
  const first = holding(startLine);
  const last = holding(endLine);
  if (first < 0 || last < 0) return { ok: false, reason: "line_not_in_diff" };
  if (first !== last) return { ok: false, reason: "range_spans_hunks" };
  const lines = file.hunks[first]!.lines.filter((l) => {
    const n = lineOn(l, side);
    return n !== null && n >= startLine && n <= endLine;
  });
  // A hunk's lines on one side are consecutive, so a range inside one hunk is whole.
  if (lines.length !== endLine - startLine + 1) return { ok: false, reason: "line_not_in_diff" };
  return { ok: true, file, side, start: lines[0]!, end: lines[lines.length - 1]!, lines };
}
