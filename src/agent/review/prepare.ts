import { FlowError } from "../../sessions/errors.js";
import type { FlowContext } from "../../sessions/flow.js";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../sessions/forge-port.js";
import type { Change, ChangeFile, ChangeSince } from "../../sessions/review-port.js";
import type { Session } from "../../sessions/session.js";
import { loadRepoSettings } from "../repo-settings.js";
import { planReview, type ReviewLimits } from "./plan.js";
import type { ReviewRecord, ReviewScope, ReviewStore } from "./store.js";

/** The review capability of a forge client, all of it, or a FlowError. */
export type ReviewClient = Required<Pick<ForgeClient, "getChangeRefs" | "getChange" | "getChangeSince" | "postReview" | "findReview">>;

export function reviewClient(forge: ForgeClient): ReviewClient {
  const { getChangeRefs, getChange, getChangeSince, postReview, findReview } = forge;
  if (!getChangeRefs || !getChange || !getChangeSince || !postReview || !findReview) throw new FlowError("internal", "this forge client cannot review");
  return {
    getChangeRefs: getChangeRefs.bind(forge),
    getChange: getChange.bind(forge),
    getChangeSince: getChangeSince.bind(forge),
    postReview: postReview.bind(forge),
    findReview: findReview.bind(forge),
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The change at its head, or the fixed error when the forge will not serve it (too large, gone, failing). */
async function readChange(client: ReviewClient, thread: ThreadRef): Promise<Change> {
  try {
    return await client.getChange(thread);
  } catch (err: unknown) {
    throw new FlowError("review_diff_unavailable", describe(err), { cause: err });
  }
}

/** What changed since the last review; a compare the forge refuses reviews everything instead. */
async function readSince(client: ReviewClient, thread: ThreadRef, from: string, to: string): Promise<ChangeSince> {
  try {
    return await client.getChangeSince(thread, from, to);
  } catch (err: unknown) {
    if (err instanceof ForgeApiError) return { kind: "unavailable", reason: "unknown_commit" };
    throw err;
  }
}

const WHY: Record<Extract<ChangeSince, { kind: "unavailable" }>["reason"], Extract<ReviewScope, { kind: "all" }>["why"]> = {
  rewritten: "rewritten",
  too_large: "compare_too_large",
  unknown_commit: "unknown_commit",
};

/**
 * Reads what a review session reviews and records it, once: the change at its head (the diff
 * every comment is anchored on), `.forgebot.yml` at that head, the scope (everything, or only
 * what changed since the last review of this change request) and the groups of files. A
 * session that already has its record gets it back unchanged, so a run that starts again
 * reviews the same files at the same commit.
 */
export async function prepareReview(
  store: ReviewStore,
  session: Session,
  context: FlowContext,
  limits: ReviewLimits,
): Promise<ReviewRecord> {
  const existing = await store.find(session.id);
  if (existing) return existing;
  const client = reviewClient(context.forge);
  const thread = session.callbackContext.thread;
  const change = await readChange(client, thread);
  const head = change.refs.headSha;
  const loaded = await loadRepoSettings(context.forge, thread, head);

  const asked = session.callbackContext.modifier === "all";
  const previous = asked ? null : await store.findLastReviewedHead(session.conversationKey, session.id);
  let scope: ReviewScope = { kind: "all", why: asked ? "asked" : "first", previous: null };
  let scopedFiles: ChangeFile[] | null = null;
  if (previous && previous === head) scope = { kind: "since", sha: previous };
  else if (previous) {
    const since = await readSince(client, thread, previous, head);
    if (since.kind === "linear") {
      // Only files that are still part of the change: one changed and changed back is not.
      const inChange = new Set(change.files.map((f) => f.path));
      scope = { kind: "since", sha: previous };
      scopedFiles = since.files.filter((f) => inChange.has(f.path));
    } else {
      scope = { kind: "all", why: WHY[since.reason], previous };
    }
  }

  const nothingNew = scope.kind === "since" && scope.sha === head;
  const plan = nothingNew ? { groups: [], skipped: [] } : planReview(scopedFiles ?? change.files, loaded.settings.review.ignore, limits);
  context.log.info({ head, scope: scope.kind, groups: plan.groups.length, skipped: plan.skipped.length, files: change.files.length }, "review planned");
  return store.create({
    sessionId: session.id,
    conversationKey: session.conversationKey,
    status: nothingNew ? "nothing_new" : plan.groups.length === 0 ? "nothing_to_review" : "reviewing",
    refs: change.refs,
    scope,
    files: change.files,
    scopedFiles,
    plan: { groups: plan.groups.map((g) => g.map((f) => f.path)), skipped: plan.skipped },
    truncated: change.truncated,
    settingsProblems: loaded.problems,
    instructions: loaded.settings.review.instructions,
  });
}
