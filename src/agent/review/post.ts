import { FlowError } from "../../sessions/errors.js";
import type { FlowContext } from "../../sessions/flow.js";
import type { ThreadRef } from "../../sessions/forge-port.js";
import type { PostedReview, ReviewDraft } from "../../sessions/review-port.js";
import type { Logger, SessionStore } from "../../sessions/ports.js";
import { reviewMarker } from "../../sessions/notes.js";
import type { Session } from "../../sessions/session.js";
import { isTransient } from "../publish/steps.js";
import { reviewComments } from "./findings.js";
import type { ReviewMetrics } from "./metrics.js";
import { reviewClient, type ReviewClient } from "./prepare.js";
import type { PlacedFinding, ReviewRecord, ReviewStore } from "./store.js";
import { reviewSummary } from "./summary.js";

export type PostDeps = { reviews: ReviewStore; sessions: Pick<SessionStore, "addEvent">; metrics: ReviewMetrics };

/** The findings with what the forge did with them: posted comments linked, refused ones marked. */
function withPosted(findings: readonly PlacedFinding[], posted: PostedReview): PlacedFinding[] {
  return findings.map((f) => {
    if (f.placement !== "inline" || f.comment === null) return f;
    const refused = posted.refused.find((r) => r.index === f.comment);
    if (refused) return { ...f, placement: "refused", reason: refused.reason };
    const comment = posted.comments.find((c) => c.index === f.comment);
    return comment ? { ...f, commentId: comment.id, url: comment.url } : f;
  });
}

/** Waits before posting again after a failure the forge gave no definite answer to, when no review of ours is there. */
export const REPOST_DELAYS_MS = [500, 2000] as const;

export type PostOrFindOptions = { signal: AbortSignal; log: Logger; sleep?: (ms: number) => Promise<void> };

/**
 * Posts the review; when the post fails, looks for it on the forge (the answer may have been lost
 * after the forge stored it) and adopts what it finds. A failure without a definite answer
 * (timeout, network, 5xx) with no review of ours found is posted again after a pause, a few
 * times; anything else, or a lookup that fails too, is thrown as the post's error.
 */
export async function postOrFindReview(client: Pick<ReviewClient, "postReview" | "findReview">, thread: ThreadRef, draft: ReviewDraft, options: PostOrFindOptions): Promise<{ posted: PostedReview; outcome: "posted" | "found_existing" }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return { posted: await client.postReview(thread, draft), outcome: "posted" };
    } catch (err: unknown) {
      let found: PostedReview | null;
      try {
        found = await client.findReview(thread, draft);
      } catch (lookupErr: unknown) {
        // Not knowing whether the forge stored it, posting again could make a second review.
        options.log.warn({ err: lookupErr }, "could not look for the review after its post failed");
        throw err;
      }
      if (found) return { posted: found, outcome: "found_existing" };
      const delay = REPOST_DELAYS_MS[attempt];
      if (!isTransient(err) || delay === undefined || options.signal.aborted) throw err;
      options.log.warn({ err, attempt: attempt + 1 }, "the review's post got no answer and the forge holds no review of this session; posting again");
      await sleep(delay);
      if (options.signal.aborted) throw err;
    }
  }
}

/**
 * Posts the session's review exactly once. Under the change request's review lock, a write-ahead
 * intent is recorded before the post; when an earlier attempt recorded it already (it may have
 * posted, then died), the forge is searched for the review's marker and a review found is
 * adopted. A post that fails is looked for too, and posted again when the forge gave no
 * definite answer (postOrFindReview), before the session fails with a fixed text.
 * The head is read again first: when it moved, the review still goes on the commit it read.
 */
export async function postReviewOnce(deps: PostDeps, session: Session, context: FlowContext, record: ReviewRecord, settingsNotice: string | null): Promise<ReviewRecord> {
  if (record.posted || !record.findings) return record;
  const client = reviewClient(context.forge);
  const thread = session.callbackContext.thread;
  const findings = record.findings;
  const marker = reviewMarker(session.id);
  const draft: ReviewDraft = {
    refs: record.refs,
    marker,
    comments: reviewComments(findings, record.files, session.id),
    summary: (refused) => reviewSummary({ record, findings, refused, settingsNotice, marker }),
  };
  const head = await client.getChangeRefs(thread).then(
    (refs) => refs.headSha,
    (err: unknown) => {
      context.log.warn({ err }, "could not read the head again before posting the review");
      return record.refs.headSha;
    },
  );
  const forge = context.profile.name;
  // A session stopped while it reviewed posts nothing.
  if (context.signal.aborted) throw context.signal.reason;

  const { posted, outcome } = await deps.reviews.withChangeLock(session.conversationKey, async () => {
    if (!(await deps.reviews.claimPosting(session.id))) {
      const found = await client.findReview(thread, draft);
      if (found) return { posted: found, outcome: "found_existing" as const };
    }
    try {
      return await postOrFindReview(client, thread, draft, { signal: context.signal, log: context.log });
    } catch (err: unknown) {
      deps.metrics.reviewPosted(forge, "failed");
      throw new FlowError("review_not_posted", err instanceof Error ? err.message : String(err), { cause: err });
    }
  });

  const placed = withPosted(findings, posted);
  deps.metrics.reviewPosted(forge, outcome);
  deps.metrics.reviewComments(forge, "inline", placed.filter((f) => f.placement === "inline").length);
  deps.metrics.reviewComments(forge, "summary", placed.filter((f) => f.placement === "summary").length);
  deps.metrics.reviewComments(forge, "rejected", placed.filter((f) => f.placement === "refused").length);
  const headMovedTo = head !== record.refs.headSha ? head : null;
  const saved = await deps.reviews.markPosted(session.id, { reviewId: posted.id, url: posted.url, outcome, headMovedTo }, placed, {
    kind: outcome === "posted" ? "review_posted" : "review_found",
    data: {
      reviewId: posted.id,
      url: posted.url,
      commit: record.refs.headSha,
      inline: posted.comments.length,
      refused: posted.refused.length,
      ...(headMovedTo ? { headMovedTo } : {}),
    },
  });
  context.log.info({ reviewId: posted.id, outcome, inline: posted.comments.length, refused: posted.refused.length }, "review posted");
  return saved;
}
