/**
 * A change request's diff as the forge serves it, and the review forgebot posts on it: the part
 * of the forge port that review sessions use (ForgeClient's `getChange`, `postReview`, …).
 */

/** The commits a change request's diff is between, as the forge reports them. */
export type ChangeRefs = {
  /** The diff's base (GitLab's `base_sha`; GitHub's base branch commit). */
  baseSha: string;
  /** GitLab's `start_sha` (the target branch's commit the diff was made against); GitHub: `baseSha`. */
  startSha: string;
  /** The head commit the files were read at. */
  headSha: string;
};

/** One file of a change as the forge serves it. */
export type ChangeFile = {
  path: string;
  /** The path before the change: differs from `path` for a rename. */
  oldPath: string;
  status: "added" | "modified" | "removed" | "renamed";
  /** Unified-diff hunks, from the first `@@`; null when the forge serves none (see `omitted`). */
  patch: string | null;
  /** Why there is no patch: the forge calls the file binary, or too large to show. */
  omitted?: "binary" | "too_large" | undefined;
  /** The forge marks the file as generated (GitLab). */
  generated?: boolean | undefined;
};

/** A change request's files and hunks at one head commit. */
export type Change = {
  refs: ChangeRefs;
  files: ChangeFile[];
  /** The forge lists no more files than this (GitHub: 3,000); the rest exist but were not served. */
  truncated: boolean;
};

/** What changed between two commits of a change request's branch. */
export type ChangeSince =
  /** `from` is an ancestor of `to`: these files changed in between. */
  | { kind: "linear"; files: ChangeFile[] }
  /** The branch was rewritten (force-push, rebase) or the forge cannot compare the two completely. */
  | { kind: "unavailable"; reason: "rewritten" | "too_large" | "unknown_commit" };

/** A line of a diff, with every number a forge addresses it by (see agent/review/diff.ts). */
export type DiffLineRef = {
  kind: "added" | "removed" | "context";
  oldLine: number | null;
  newLine: number | null;
  /** The old and new line counters at the line (GitLab's line codes). */
  oldPos: number;
  newPos: number;
};

/** One inline comment of a review, anchored on lines the diff shows. */
export type ReviewComment = {
  path: string;
  oldPath: string;
  /** First and last line of the range (the same line for a one-line comment). */
  start: DiffLineRef;
  end: DiffLineRef;
  /** The comment's text (Markdown). */
  body: string;
  /**
   * Lines replacing the range on the new side, posted as the forge's applicable suggestion
   * (GitHub ```` ```suggestion ````, GitLab ```` ```suggestion:-A+B ````). Only for ranges whose
   * lines are all on the new side.
   */
  suggestion: string[] | null;
  /** Hidden marker identifying this comment, so a repeated job can map what it finds. */
  marker: string;
};

/** A comment the forge refused (an invalid position): it is listed in the summary instead. */
export type RefusedComment = { index: number; reason: string };

/** One review to post: summary plus inline comments, on the commit the review read. */
export type ReviewDraft = {
  refs: ChangeRefs;
  /** Hidden marker of the review's summary: `findReview` looks for it. */
  marker: string;
  comments: ReviewComment[];
  /** The summary (the review's body, marker included), told which comments the forge refused. */
  summary(refused: readonly RefusedComment[]): string;
};

/** A review on the forge: its id, link, and the posted comments by index into the draft. */
export type PostedReview = {
  id: string;
  url: string | null;
  comments: { index: number; id: string; url: string | null }[];
  refused: RefusedComment[];
};
