import type { ChangeFile, ReviewComment } from "../../sessions/review-port.js";
import { reviewCommentMarker, stripMarkers } from "../../sessions/notes.js";
import { codeFence } from "../../sessions/text.js";
import { anchorRange, findFile, parseHunks, type AnchorFailure, type DiffSide, type FileDiff } from "./diff.js";
import { SEVERITIES, type PlacedFinding, type ReviewFinding, type Severity } from "./store.js";

/**
 * From what the model submitted to what is posted: each finding is validated on its own (a
 * malformed one is dropped and counted, never guessed at), then anchored on the change's whole
 * diff. A finding that cannot be anchored goes into the review's summary, never on another line.
 */

/** Most inline comments one review posts; the rest go into the summary, most severe inline first. */
export const MAX_INLINE_COMMENTS = 50;
const MAX_BODY_CHARS = 4000;
const MAX_REPLACEMENT_LINES = 200;

const SEVERITY_WORDS: Record<string, Severity> = {
  high: "high", critical: "high", blocker: "high", error: "high", major: "medium", medium: "medium", warning: "medium",
  low: "low", minor: "low", info: "low", suggestion: "low", nit: "nit", nitpick: "nit", trivial: "nit", style: "nit",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function lineNumber(value: unknown): number | null {
  const n = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : null;
}

function sideOf(value: unknown): DiffSide | null {
  if (value === undefined || value === null) return "new";
  const word = String(value).trim().toLowerCase();
  if (word === "new" || word === "right" || word === "+" || word === "head") return "new";
  if (word === "old" || word === "left" || word === "-" || word === "base") return "old";
  return null;
}

function replacementOf(value: unknown): string[] | null | undefined {
  if (value === undefined || value === null) return null;
  const lines = typeof value === "string" ? value.replace(/\r\n?/g, "\n").replace(/\n$/, "").split("\n") : value;
  if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string") || lines.length > MAX_REPLACEMENT_LINES) return undefined;
  return lines as string[];
}

/** One finding, or null when it is malformed (no path, no line, no text, an unknown side). */
export function parseFinding(raw: unknown): ReviewFinding | null {
  if (!isRecord(raw)) return null;
  const path = typeof raw.path === "string" ? raw.path.trim() : "";
  const start = lineNumber(raw.start_line ?? raw.startLine ?? raw.line);
  const end = lineNumber(raw.end_line ?? raw.endLine) ?? start;
  const side = sideOf(raw.side);
  const body = typeof raw.body === "string" ? stripMarkers(raw.body).trim() : "";
  const replacement = replacementOf(raw.replacement);
  if (!path || start === null || end === null || side === null || !body || replacement === undefined) return null;
  const severity = SEVERITY_WORDS[String(raw.severity ?? "").trim().toLowerCase()] ?? "medium";
  return {
    path,
    side,
    startLine: Math.min(start, end),
    endLine: Math.max(start, end),
    severity,
    body: body.length > MAX_BODY_CHARS ? `${body.slice(0, MAX_BODY_CHARS)}…` : body,
    replacement: replacement ? replacement.map((l) => stripMarkers(l)) : null,
  };
}

/** The findings and summary of one `submit_review` call; `malformed` counts what was dropped. */
export function parseSubmission(input: unknown): { findings: ReviewFinding[]; malformed: number; summary: string | null } {
  const record = isRecord(input) ? input : {};
  const list = Array.isArray(record.findings) ? record.findings : [];
  const findings = list.map(parseFinding);
  const summary = typeof record.summary === "string" && record.summary.trim() ? stripMarkers(record.summary).trim().slice(0, MAX_BODY_CHARS) : null;
  return { findings: findings.filter((f): f is ReviewFinding => f !== null), malformed: findings.filter((f) => f === null).length + (isRecord(input) ? 0 : 1), summary };
}

const REASONS: Record<AnchorFailure, string> = {
  file_not_in_diff: "the file is not part of this change's diff",
  line_not_in_diff: "the lines are not in the diff",
  range_spans_hunks: "the lines span separate parts of the diff",
  bad_range: "the line range is invalid",
};

export function fileDiffs(files: readonly ChangeFile[]): FileDiff[] {
  return files.filter((f) => f.patch).map((f) => ({ path: f.path, oldPath: f.oldPath, hunks: parseHunks(f.patch ?? "") }));
}

const RANK: Record<Severity, number> = Object.fromEntries(SEVERITIES.map((s, i) => [s, i])) as Record<Severity, number>;

/**
 * Where each finding goes: inline when its whole range is on lines the diff shows in one hunk,
 * else the summary (with the reason). Duplicates are dropped; the most severe go inline first.
 * A review of what changed since the last one (`scoped`: the increment's files) numbers removed
 * lines as the previous head had them, which the whole change's diff does not show: those
 * findings go to the summary, quoting the lines from the increment. New-side lines are the
 * head's in both diffs.
 */
export function placeFindings(findings: readonly ReviewFinding[], files: readonly ChangeFile[], scoped?: readonly ChangeFile[]): PlacedFinding[] {
  const diffs = fileDiffs(files);
  const scopedDiffs = scoped ? fileDiffs(scoped) : null;
  const seen = new Set<string>();
  const unique = findings.filter((f) => {
    const key = [f.path, f.side, f.startLine, f.endLine, f.body].join("\u0000");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const ordered = [...unique].sort((a, b) => RANK[a.severity] - RANK[b.severity] || a.path.localeCompare(b.path) || a.startLine - b.startLine);
  let inline = 0;
  return ordered.map((f): PlacedFinding => {
    const base = { ...f, comment: null, original: null, applicable: false, commentId: null, url: null };
    if (scopedDiffs && f.side === "old") {
      const removed = findFile(scopedDiffs, f.path);
      const anchor = removed ? anchorRange(removed, "old", f.startLine, f.endLine) : null;
      if (!removed || !anchor?.ok) return { ...base, placement: "summary", reason: REASONS[anchor && !anchor.ok ? anchor.reason : "file_not_in_diff"] };
      return { ...base, path: removed.path, original: anchor.lines.map((l) => l.text), placement: "summary", reason: "the lines were removed since the last review; the whole change's diff does not show them" };
    }
    const file = findFile(diffs, f.path);
    if (!file) return { ...base, placement: "summary", reason: REASONS.file_not_in_diff };
    const anchor = anchorRange(file, f.side, f.startLine, f.endLine);
    if (!anchor.ok) return { ...base, path: file.path, placement: "summary", reason: REASONS[anchor.reason] };
    const original = anchor.lines.map((l) => l.text);
    if (inline >= MAX_INLINE_COMMENTS) return { ...base, path: file.path, original, placement: "summary", reason: `more than ${MAX_INLINE_COMMENTS} inline comments` };
    const applicable = f.replacement !== null && f.side === "new";
    const reason = f.replacement !== null && !applicable ? "a replacement of removed lines cannot be applied" : null;
    return { ...base, path: file.path, original, applicable, placement: "inline", reason, comment: inline++ };
  });
}

const LABELS: Record<Severity, string> = { high: "High", medium: "Medium", low: "Low", nit: "Nit" };

export function severityLabel(severity: Severity): string {
  return LABELS[severity];
}

/** A plain code block (not an applicable suggestion). */
export function codeBlock(lines: readonly string[]): string {
  const text = lines.join("\n");
  const fence = codeFence(text);
  return `${fence}\n${text}\n${fence}`;
}

/** The inline comments of a review, in the order of `comment` indices, anchored afresh on the diff. */
export function reviewComments(placed: readonly PlacedFinding[], files: readonly ChangeFile[], sessionId: number): ReviewComment[] {
  const diffs = fileDiffs(files);
  const comments: ReviewComment[] = [];
  for (const f of placed) {
    if (f.placement !== "inline" || f.comment === null) continue;
    const file = findFile(diffs, f.path);
    const anchor = file ? anchorRange(file, f.side, f.startLine, f.endLine) : null;
    // Placement anchored these lines on this very diff; anything else is a bug, never a guess.
    if (!file || !anchor?.ok) throw new Error(`finding on ${f.path} ${f.startLine}-${f.endLine} no longer anchors`);
    const notApplicable = f.replacement && !f.applicable ? `\n\nSuggested replacement (it replaces removed lines, so it cannot be applied):\n\n${codeBlock(f.replacement)}` : "";
    const { start, end } = anchor;
    const ref = (l: typeof start) => ({ kind: l.kind, oldLine: l.oldLine, newLine: l.newLine, oldPos: l.oldPos, newPos: l.newPos });
    comments[f.comment] = {
      path: file.path,
      oldPath: file.oldPath,
      start: ref(start),
      end: ref(end),
      body: `**${LABELS[f.severity]}:** ${f.body}${notApplicable}`,
      suggestion: f.applicable ? f.replacement : null,
      marker: reviewCommentMarker(sessionId, f.comment),
    };
  }
  return comments;
}
