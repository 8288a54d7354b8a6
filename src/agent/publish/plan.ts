import type { ChangePublisher, ThreadRef } from "../../sessions/forge-port.js";
import type { ApprovalTarget } from "../../sessions/publish-notes.js";
import type { PatchPublication } from "../../workspace/store.js";
import { branchName } from "./message.js";
import { shortSha } from "../../sessions/text.js";

/**
 * Where an approved change goes, decided from what the forge says now:
 * - from an issue, a new branch off the default branch, and a change request into it;
 * - from a change request, a new branch on its head and a change request stacked on it (base:
 *   its head branch); `apply here` commits onto that head branch itself, only when it is in this
 *   repository, not the default branch, not protected, and has not moved since the snapshot;
 * - from a fork's change request, whose branch cannot be written, a new branch on its head here
 *   and a change request against its base branch;
 * - in a change request forgebot opened, a commit on top of its own branch.
 * No other branch is ever written, and nothing is ever forced.
 */

export type PublishPlan = {
  mode: PatchPublication["mode"];
  branch: string;
  newBranch: boolean;
  /** The commit the change goes onto: the branch's head now. */
  parentSha: string;
  /** The branch that commit is the head of, as the reply names it. */
  parentBranch: string;
  /** The change request's base when a new one is opened; null when the change goes to an existing one. */
  target: string | null;
  /** A stacked change request's parent: its reference and head branch. */
  stackedOn: { reference: string; branch: string } | null;
  /** A fork's change request: its reference and the base branch this one is against. */
  fork: { reference: string; base: string } | null;
};

/** A refusal, and what the requester may do instead (the stacked change request, or the fork's). */
export type PlanRefusal = { kind: "refused"; reason: string; offer: Extract<ApprovalTarget, { kind: "change_request" | "fork" }> | null };

export type PlanInput = {
  thread: ThreadRef;
  /** `#12` / `!12` of the thread. */
  reference: string;
  sessionId: number;
  request: string;
  /** The snapshot the patch was made on. */
  snapshotSha: string;
  here: boolean;
  /** The branch forgebot made for this change request, when it opened the thread's change request. */
  ownBranch: string | null;
};

export async function planPublish(publisher: ChangePublisher, input: PlanInput): Promise<{ kind: "plan"; plan: PublishPlan } | PlanRefusal> {
  const { thread, reference } = input;
  const branch = branchName(input.sessionId, input.request);
  const refuse = (reason: string, offer: PlanRefusal["offer"] = null): PlanRefusal => ({ kind: "refused", reason, offer });

  if (thread.kind === "issue") {
    const defaultBranch = await publisher.defaultBranch(thread);
    const head = await publisher.findBranch(thread, defaultBranch);
    if (!head) return refuse(`the default branch \`${defaultBranch}\` was not found`);
    return { kind: "plan", plan: { mode: "new_branch", branch, newBranch: true, parentSha: head.sha, parentBranch: defaultBranch, target: defaultBranch, stackedOn: null, fork: null } };
  }

  const cr = await publisher.changeRequestBranches(thread);
  if (input.ownBranch !== null) {
    if (cr.headBranch !== input.ownBranch || cr.fork) return refuse(`${reference}'s branch is not \`${input.ownBranch}\`, the one forgebot made for it`);
    if (!cr.open) return refuse(`${reference} is merged or closed`);
    const own = await publisher.findBranch(thread, input.ownBranch);
    if (!own) return refuse(`its branch \`${input.ownBranch}\` no longer exists (was it deleted?)`);
    return { kind: "plan", plan: { mode: "follow_up", branch: input.ownBranch, newBranch: false, parentSha: own.sha, parentBranch: input.ownBranch, target: null, stackedOn: null, fork: null } };
  }

  const stacked = { kind: "change_request" as const, reference, headBranch: cr.headBranch };
  if (cr.fork) {
    if (input.here) return refuse(`${reference} comes from a fork, which I cannot write to`, { kind: "fork", reference, baseBranch: cr.baseBranch });
    return {
      kind: "plan",
      plan: { mode: "stacked_fork", branch, newBranch: true, parentSha: cr.headSha, parentBranch: cr.headBranch, target: cr.baseBranch, stackedOn: null, fork: { reference, base: cr.baseBranch } },
    };
  }
  const head = await publisher.findBranch(thread, cr.headBranch);
  if (!head) return refuse(`${reference}'s branch \`${cr.headBranch}\` no longer exists (was it deleted?)`);

  if (input.here) {
    if (!cr.open) return refuse(`${reference} is merged or closed, so its branch takes no more commits from me`, stacked);
    const defaultBranch = await publisher.defaultBranch(thread);
    if (cr.headBranch === defaultBranch) return refuse(`\`${cr.headBranch}\` is the default branch, which I never write`, stacked);
    if (head.protected) return refuse(`\`${cr.headBranch}\` is a protected branch, which I never write`, stacked);
    if (head.sha !== input.snapshotSha) {
      return refuse(`\`${cr.headBranch}\` moved since the snapshot (\`${shortSha(input.snapshotSha)}\` → \`${shortSha(head.sha)}\`), so a commit made on the snapshot could undo what was pushed since`, stacked);
    }
    return { kind: "plan", plan: { mode: "here", branch: cr.headBranch, newBranch: false, parentSha: head.sha, parentBranch: cr.headBranch, target: null, stackedOn: null, fork: null } };
  }

  return {
    kind: "plan",
    plan: { mode: "stacked", branch, newBranch: true, parentSha: head.sha, parentBranch: cr.headBranch, target: cr.headBranch, stackedOn: { reference, branch: cr.headBranch }, fork: null },
  };
}

/**
 * Where a plain `@forgebot apply` would take the change, for the line the waiting reply ends
 * with. One forge read for a change request (is it a fork?); when that fails, the snapshot's
 * branch stands in for its head branch.
 */
export async function approvalTarget(publisher: ChangePublisher, input: { thread: ThreadRef; reference: string; snapshotRef: string; ownBranch: string | null }): Promise<ApprovalTarget> {
  const { thread, reference } = input;
  if (thread.kind === "issue") return { kind: "new_branch" };
  if (input.ownBranch !== null) return { kind: "own", reference, branch: input.ownBranch };
  try {
    const cr = await publisher.changeRequestBranches(thread);
    if (cr.fork) return { kind: "fork", reference, baseBranch: cr.baseBranch };
    return { kind: "change_request", reference, headBranch: cr.headBranch };
  } catch {
    return { kind: "change_request", reference, headBranch: input.snapshotRef };
  }
}
