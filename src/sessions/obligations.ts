import type { Session } from "./session.js";
import { TERMINAL_STATUSES, type SessionStatus } from "./state-machine.js";

/**
 * What a session still owes its thread: the one definition behind the reply job, the reaper,
 * the reconciler and the page's live stream (storage/obligations-sql.ts states the same rule in
 * SQL, and a test holds the two together).
 *
 * A session answers once per run when it has ended or waits for a person (a question, a plan
 * or a tool call to approve); created and running sessions owe nothing yet, and a paused one
 * waits for the system, not for a person. The answer is owed until a reply for the current run
 * is recorded, and the started note until it is deleted.
 */
export const REPLY_STATUSES: readonly SessionStatus[] = [
  ...TERMINAL_STATUSES,
  "input_required",
  "plan_approval_required",
  "tool_call_approval_required",
];

type Obligated = Pick<Session, "status" | "runSeq" | "replyNoteId" | "startedNoteId" | "startedNoteDeletedAt"> & {
  callbackContext: Pick<Session["callbackContext"], "replyRun">;
};

/** The session is at a point where it answers in the thread. */
export function answersNow(session: Pick<Session, "status">): boolean {
  return REPLY_STATUSES.includes(session.status);
}

/** A reply for the current run is recorded. A reply without a recorded run counts as none. */
export function hasReplied(session: Obligated): boolean {
  return session.replyNoteId !== null && session.callbackContext.replyRun === session.runSeq;
}

/** The started note of the current run was posted and is not deleted yet. */
export function owesNoteDeletion(session: Obligated): boolean {
  return session.startedNoteId !== null && session.startedNoteDeletedAt === null;
}

/** The reply job has work left: the session answers now and its reply or note deletion is outstanding. */
export function owesDelivery(session: Obligated): boolean {
  return answersNow(session) && (!hasReplied(session) || owesNoteDeletion(session));
}
