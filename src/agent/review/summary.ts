import type { RefusedComment } from "../../sessions/review-port.js";
import { codeBlock, severityLabel } from "./findings.js";
import { SEVERITIES, type PlacedFinding, type ReviewOverview, type ReviewRecord, type SkipReason, type SkippedFile } from "./store.js";
import { inlineCode, plural, shortSha } from "../../sessions/text.js";

/**
 * The texts of a review: its summary (the review's body on the forge) and the reply in the
 * thread. Both say what was reviewed, what was skipped and why, and what could not be placed.
 */

/** How many skipped files or unplaced findings a text lists before it says "and N more". */
const MAX_LISTED = 30;

const SKIP_LABELS: Record<SkipReason, string> = {
  lockfile: "lockfile",
  generated: "generated",
  vendored: "vendored",
  binary: "binary or no textual diff",
  ignored: "`review.ignore`",
  too_large: "too large to review",
  no_changes: "no changed lines",
  over_budget: "past this review's size limit",
  not_listed: "not listed by the forge",
};

/** "3 comments: 1 high, 2 medium" over every finding, inline or not. */
export function findingCounts(findings: readonly Pick<PlacedFinding, "severity">[]): string {
  if (findings.length === 0) return "no findings";
  const by = SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  return `${plural(findings.length, "finding")}: ${by.map(([s, n]) => `${n} ${s}`).join(", ")}`;
}

/** Files reviewed, in plan order. */
export function reviewedFiles(record: Pick<ReviewOverview, "plan" | "stopped">): string[] {
  const done = record.stopped ? record.plan.groups.slice(0, record.stopped.groupsDone) : record.plan.groups;
  return done.flat();
}

/** Files the plan skipped, and those of groups a stop left unreviewed. */
export function skippedFiles(record: Pick<ReviewOverview, "plan" | "stopped">): SkippedFile[] {
  const unreviewed = record.stopped ? record.plan.groups.slice(record.stopped.groupsDone).flat().map((path) => ({ path, reason: "over_budget" as const })) : [];
  return [...record.plan.skipped, ...unreviewed];
}

/** Which part of the change was reviewed, in words. */
export function scopeText(record: Pick<ReviewOverview, "scope">): string {
  const { scope } = record;
  if (scope.kind === "since") return `what changed since my last review at ${inlineCode(shortSha(scope.sha))}`;
  const previous = scope.previous ? ` at ${inlineCode(shortSha(scope.previous))}` : "";
  if (scope.why === "asked") return "the whole change, as asked";
  if (scope.why === "rewritten") return `the whole change: the branch was rewritten since my last review${previous}`;
  if (scope.why === "compare_too_large") return `the whole change: too much changed since my last review${previous} to compare`;
  if (scope.why === "unknown_commit") return `the whole change: the commit of my last review${previous} is no longer there`;
  return "the whole change";
}

function listSkipped(skipped: readonly SkippedFile[]): string[] {
  const shown = skipped.slice(0, MAX_LISTED).map((s) => `- ${inlineCode(s.path)}: ${SKIP_LABELS[s.reason]}`);
  if (skipped.length > MAX_LISTED) shown.push(`- and ${skipped.length - MAX_LISTED} more`);
  return shown;
}

function lines(f: PlacedFinding): string {
  const range = f.startLine === f.endLine ? `line ${f.startLine}` : `lines ${f.startLine}–${f.endLine}`;
  return f.side === "old" ? `${range} (before the change)` : range;
}

/** Notes that belong in both the summary and the reply. */
function notes(record: ReviewRecord, settingsNotice: string | null): string[] {
  const out: string[] = [];
  if (record.truncated) out.push(`The forge listed only the first ${record.files.length} files of this change; the rest were not reviewed.`);
  if (record.stopped) {
    const why = record.stopped.reason === "max_steps" ? "step" : "token";
    out.push(`The review stopped after ${plural(record.stopped.groupsDone, "group")} of files at this session's ${why} limit; the files after them were not reviewed.`);
  }
  const malformed = record.groups.reduce((n, g) => n + g.malformed, 0);
  if (malformed > 0) out.push(`${plural(malformed, "finding")} from the model ${malformed === 1 ? "was" : "were"} malformed and dropped.`);
  if (settingsNotice) out.push(settingsNotice);
  return out;
}

/** The review's body on the forge: overview, findings not placed inline, skipped files, the marker. */
export function reviewSummary(input: { record: ReviewRecord; findings: readonly PlacedFinding[]; refused: readonly RefusedComment[]; settingsNotice: string | null; marker: string }): string {
  const { record, findings, refused } = input;
  const refusedIndex = new Map(refused.map((r) => [r.index, r.reason]));
  const reviewed = reviewedFiles(record);
  const counts = findingCounts(findings);
  const out = [
    `**forgebot review** of ${plural(reviewed.length, "file")} at ${inlineCode(shortSha(record.refs.headSha))}: ${scopeText(record)}. ${counts.charAt(0).toUpperCase()}${counts.slice(1)}.`,
  ];
  const overview = record.groups.map((g) => g.summary).filter((s): s is string => Boolean(s));
  if (overview.length) out.push("", ...overview);
  const apart = findings.filter((f) => f.placement !== "inline" || (f.comment !== null && refusedIndex.has(f.comment)));
  if (apart.length) {
    out.push("", "**Findings not placed on a line of the diff:**", "");
    for (const f of apart.slice(0, MAX_LISTED)) {
      const why = f.placement === "inline" && f.comment !== null ? refusedIndex.get(f.comment) : f.reason;
      out.push(`- **${severityLabel(f.severity)}** ${inlineCode(f.path)} ${lines(f)}${why ? ` (${why})` : ""}: ${f.body.replace(/\n+/g, " ")}`);
      if (f.replacement) out.push("", "  Suggested replacement:", "", ...codeBlock(f.replacement).split("\n").map((l) => `  ${l}`), "");
    }
    if (apart.length > MAX_LISTED) out.push(`- and ${apart.length - MAX_LISTED} more (see the session page)`);
  }
  const skipped = skippedFiles(record);
  if (skipped.length) out.push("", `**Not reviewed** (${plural(skipped.length, "file")}):`, "", ...listSkipped(skipped));
  const extra = notes(record, input.settingsNotice);
  if (extra.length) out.push("", extra.join("\n\n"));
  out.push("", input.marker);
  return out.join("\n");
}

/** The reply in the thread once the review is posted. */
export function reviewReply(input: { record: ReviewRecord; findings: readonly PlacedFinding[]; settingsNotice: string | null; changeRequestName: string }): string {
  const { record, findings } = input;
  const posted = record.posted;
  const reviewed = reviewedFiles(record);
  const inline = findings.filter((f) => f.placement === "inline").length;
  const link = posted?.url ? `[the review](${posted.url})` : "the review";
  const out = [
    `Reviewed ${plural(reviewed.length, "file")} at ${inlineCode(shortSha(record.refs.headSha))} (${scopeText(record)}): ${findingCounts(findings)}, ${plural(inline, "inline comment")}. See ${link}.`,
  ];
  const apart = findings.length - inline;
  if (apart > 0) out.push("", `${plural(apart, "finding")} could not be placed on a line of the diff and ${apart === 1 ? "is" : "are"} listed in the review's summary instead.`);
  const skipped = skippedFiles(record);
  if (skipped.length) out.push("", `Not reviewed: ${skipped.slice(0, 10).map((s) => `${inlineCode(s.path)} (${SKIP_LABELS[s.reason]})`).join(", ")}${skipped.length > 10 ? `, and ${skipped.length - 10} more` : ""}.`);
  if (posted?.headMovedTo) {
    out.push("", `The ${input.changeRequestName} moved to ${inlineCode(shortSha(posted.headMovedTo))} while I was reviewing; the review is on ${inlineCode(shortSha(record.refs.headSha))}, the commit I read.`);
  }
  const extra = notes(record, input.settingsNotice);
  if (extra.length) out.push("", extra.join("\n\n"));
  return out.join("\n");
}

/** A second review when nothing changed since the last one: no model call, nothing posted. */
export function nothingNewReply(sinceSha: string): string {
  return `Nothing changed since my last review at ${inlineCode(shortSha(sinceSha))}, so I posted no new review. Ask \`review all\` to review the whole change again.`;
}

/** Every file of the change is skipped: no model call, nothing posted. */
export function nothingToReviewReply(record: ReviewRecord, settingsNotice: string | null): string {
  const skipped = skippedFiles(record);
  const out = [`There is nothing to review at ${inlineCode(shortSha(record.refs.headSha))} (${scopeText(record)}), so I posted no review.`];
  if (skipped.length) out.push("", "Not reviewed:", "", ...listSkipped(skipped));
  const extra = notes(record, settingsNotice);
  if (extra.length) out.push("", extra.join("\n\n"));
  return out.join("\n");
}
