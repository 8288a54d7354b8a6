import type { ChangeFile, ChangeRefs } from "../../sessions/review-port.js";
import type { DiffSide } from "./diff.js";

/**
 * What a review session read, found and posted, kept in Postgres (storage/review-store.ts) so a
 * run that starts again (crash, stalled job) reviews the same files at the same commit, never
 * runs a recorded group twice and never posts twice; and so the next review of the change
 * request knows which head the last one read.
 */

export const SEVERITIES = ["high", "medium", "low", "nit"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One finding as the model submitted it, once validated. */
export type ReviewFinding = {
  path: string;
  side: DiffSide;
  startLine: number;
  endLine: number;
  severity: Severity;
  body: string;
  /** Lines replacing the range (new side only), or null. */
  replacement: string[] | null;
};

/** What the model submitted for one group of files. */
export type GroupResult = {
  index: number;
  findings: ReviewFinding[];
  /** Findings dropped because they were malformed (missing path, lines, body …). */
  malformed: number;
  summary: string | null;
  /** False when the model answered in text instead of calling the submit tool. */
  submitted: boolean;
};

/**
 * Where a finding ended up: an inline comment, the summary (it could not be anchored on a line
 * the diff shows), or the summary because the forge refused its position.
 */
export type Placement = "inline" | "summary" | "refused";

export type PlacedFinding = ReviewFinding & {
  placement: Placement;
  /** Why it is not inline. */
  reason: string | null;
  /** Index into the posted draft's comments, when inline. */
  comment: number | null;
  /** The lines the range covers in the diff, for the page's suggested change; null when not anchored. */
  original: string[] | null;
  /** The suggestion was posted as an applicable block. */
  applicable: boolean;
  /** The posted comment, once known. */
  commentId: string | null;
  url: string | null;
};

/** Why a file was left out of the review. */
export type SkipReason = "lockfile" | "generated" | "vendored" | "binary" | "ignored" | "too_large" | "no_changes" | "over_budget" | "not_listed";

export type SkippedFile = { path: string; reason: SkipReason };

/** Which part of the change the review covers. */
export type ReviewScope =
  /** The whole change: the first review, `review all`, or the last review's head cannot be compared with this one. */
  | { kind: "all"; why: "first" | "asked" | "rewritten" | "compare_too_large" | "unknown_commit"; previous: string | null }
  /** Only what changed since the last review, which read `sha`. */
  | { kind: "since"; sha: string };

export type ReviewPlan = {
  /** Paths of the files reviewed, by group, in the order the model sees them. */
  groups: string[][];
  skipped: SkippedFile[];
};

/** The session's step or token limit ended the review before its last group. */
export type StoppedEarly = { reason: "max_steps" | "max_tokens"; groupsDone: number };

export type ReviewStatus = "reviewing" | "posted" | "nothing_new" | "nothing_to_review";

export type PostedRecord = {
  reviewId: string;
  url: string | null;
  outcome: "posted" | "found_existing";
  /** The head when the review was posted, when it had moved past the commit the review read. */
  headMovedTo: string | null;
};

export type ReviewRecord = {
  sessionId: number;
  conversationKey: string;
  status: ReviewStatus;
  /** The commits the review read: comments are posted on `refs.headSha`. */
  refs: ChangeRefs;
  scope: ReviewScope;
  /** The change request's whole diff at `refs.headSha`: every comment is anchored on it. */
  files: ChangeFile[];
  /** What the model reviews when only what changed since the last review is (null: `files`). */
  scopedFiles: ChangeFile[] | null;
  plan: ReviewPlan;
  /** The forge listed no more files than its limit. */
  truncated: boolean;
  /** `.forgebot.yml` problems, each naming its key. */
  settingsProblems: string[];
  instructions: string | null;
  groups: GroupResult[];
  /** Set once every group is done: the placement of every finding, then its posted comment. */
  findings: PlacedFinding[] | null;
  stopped: StoppedEarly | null;
  posted: PostedRecord | null;
  createdAt: Date;
  postedAt: Date | null;
};

export type NewReviewRecord = Omit<ReviewRecord, "groups" | "findings" | "stopped" | "posted" | "createdAt" | "postedAt">;

/** A review record without its diffs: what the session page shows (the diffs can be large). */
export type ReviewOverview = Omit<ReviewRecord, "files" | "scopedFiles">;

/** Postgres-backed review records. `find` returns null when the session has none. */
export interface ReviewStore {
  find(sessionId: number): Promise<ReviewRecord | null>;
  /** The record without its diffs, for the session page; null when the session has none. */
  findOverview(sessionId: number): Promise<ReviewOverview | null>;
  /** Inserts the record once per session; a repeat returns the first one. */
  create(record: NewReviewRecord): Promise<ReviewRecord>;
  /** Records one group's result; a group already recorded is kept as it was. */
  saveGroup(sessionId: number, group: GroupResult): Promise<ReviewRecord>;
  /** Records where every finding goes once the groups are done (kept if already recorded). */
  saveFindings(sessionId: number, findings: PlacedFinding[], stopped: StoppedEarly | null): Promise<ReviewRecord>;
  /**
   * The write-ahead intent before posting: true the first time, false when an earlier attempt
   * claimed it already (it may have posted, then died): the caller looks for the review first.
   */
  claimPosting(sessionId: number): Promise<boolean>;
  /** Records the posted review and the session's `event` (review_posted, review_found) together. */
  markPosted(sessionId: number, posted: PostedRecord, findings: PlacedFinding[], event: { kind: string; data: Record<string, unknown> }): Promise<ReviewRecord>;
  /** The head the latest review posted in this conversation before `beforeSessionId` read, or null. */
  findLastReviewedHead(conversationKey: string, beforeSessionId: number): Promise<string | null>;
  /** Runs `fn` holding the change request's review lock: one review is posted at a time per change request. */
  withChangeLock<T>(conversationKey: string, fn: () => Promise<T>): Promise<T>;
}
