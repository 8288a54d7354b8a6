import { severityLabel } from "../agent/review/findings.js";
import type { PlacedFinding, ReviewOverview } from "../agent/review/store.js";
import { findingCounts, reviewedFiles, scopeText, skippedFiles } from "../agent/review/summary.js";
import { shortSha } from "../sessions/text.js";
import { renderMarkdown, safeHttpUrl } from "./markdown.js";

/**
 * A review session's part of the page and of its JSON: what it read and skipped, and every
 * finding with its file, lines, severity, the suggested change as a diff, and a link to the
 * comment it became on the forge.
 */

export type ReviewFindingView = {
  path: string;
  lines: string;
  severity: string;
  severityLabel: string;
  /** The comment's text, as sanitized HTML. */
  html: string;
  placement: string;
  reason: string | null;
  link: { href: string; text: string } | null;
  /** The lines the suggestion replaces (`-`) and its lines (`+`); null without a suggestion. */
  diff: { sign: "-" | "+"; text: string }[] | null;
  applicable: boolean;
};

export type ReviewView = {
  status: string;
  commit: string;
  scope: string;
  counts: string;
  link: { href: string; text: string } | null;
  reviewed: number;
  skipped: { path: string; reason: string }[];
  findings: ReviewFindingView[];
};

const STATUS: Record<ReviewOverview["status"], string> = {
  reviewing: "Reviewing",
  posted: "Posted",
  nothing_new: "Nothing new since the last review",
  nothing_to_review: "Nothing to review",
};

const PLACEMENT: Record<PlacedFinding["placement"], string> = {
  inline: "Inline comment",
  summary: "In the review's summary",
  refused: "In the review's summary (refused by the forge)",
};

function linesOf(f: PlacedFinding): string {
  const range = f.startLine === f.endLine ? `line ${f.startLine}` : `lines ${f.startLine}–${f.endLine}`;
  return f.side === "old" ? `${range} (before the change)` : range;
}

function findingView(f: PlacedFinding): ReviewFindingView {
  const url = safeHttpUrl(f.url);
  return {
    path: f.path,
    lines: linesOf(f),
    severity: f.severity,
    severityLabel: severityLabel(f.severity),
    html: renderMarkdown(f.body),
    placement: PLACEMENT[f.placement],
    reason: f.reason,
    link: url ? { href: url, text: "View comment" } : null,
    diff: f.replacement ? [...(f.original ?? []).map((text) => ({ sign: "-" as const, text })), ...f.replacement.map((text) => ({ sign: "+" as const, text }))] : null,
    applicable: f.applicable,
  };
}

/** Findings of the groups done so far, before they are placed and posted. */
function pendingView(record: ReviewOverview): ReviewFindingView[] {
  return record.groups.flatMap((g) =>
    g.findings.map((f) => ({
      ...findingView({ ...f, placement: "summary", reason: null, comment: null, original: null, applicable: false, commentId: null, url: null }),
      placement: "Not posted yet",
    })),
  );
}

export function reviewView(record: ReviewOverview): ReviewView {
  const url = safeHttpUrl(record.posted?.url);
  const findings = record.findings ?? record.groups.flatMap((g) => g.findings);
  return {
    status: STATUS[record.status],
    commit: shortSha(record.refs.headSha),
    scope: scopeText(record).replace(/`/g, ""),
    counts: findingCounts(findings),
    link: url ? { href: url, text: "View the review" } : null,
    reviewed: reviewedFiles(record).length,
    skipped: skippedFiles(record).map((s) => ({ path: s.path, reason: s.reason.replace(/_/g, " ") })),
    findings: record.findings ? record.findings.map(findingView) : pendingView(record),
  };
}

/** The review's data for `GET /api/sessions/:id`. */
export function reviewJson(record: ReviewOverview) {
  return {
    status: record.status,
    headSha: record.refs.headSha,
    baseSha: record.refs.baseSha,
    scope: record.scope,
    reviewId: record.posted?.reviewId ?? null,
    url: record.posted?.url ?? null,
    headMovedTo: record.posted?.headMovedTo ?? null,
    postedAt: record.postedAt,
    reviewed: reviewedFiles(record),
    skipped: skippedFiles(record),
    stopped: record.stopped,
    findings: (record.findings ?? []).map((f) => ({
      path: f.path,
      side: f.side,
      startLine: f.startLine,
      endLine: f.endLine,
      severity: f.severity,
      body: f.body,
      replacement: f.replacement,
      original: f.original,
      applicable: f.applicable,
      placement: f.placement,
      reason: f.reason,
      commentId: f.commentId,
      url: f.url,
    })),
  };
}
