import type { ForgeClient } from "../sessions/forge-port.js";
import { noticeMarker } from "../sessions/notes.js";
import type { LifecycleDeps, StoredMention } from "../sessions/ports.js";
import { applyNothingNote, type ApplyNothing } from "../sessions/publish-notes.js";
import { conversationKey, type Session } from "../sessions/session.js";
import { isTerminal } from "../sessions/state-machine.js";
import { ensureNote } from "./notes.js";
import { startSession } from "./start.js";

/** Why `apply` found nothing to resume, from the thread's newest session. */
function nothingToApply(session: Session | null): ApplyNothing {
  if (!session || session.flow !== "change") return { kind: "nothing_waiting" };
  if (isTerminal(session.status)) return { kind: "ended", sessionId: session.id, status: session.status };
  if (session.status === "created" || session.status === "running") {
    const approved = session.callbackContext.approvals?.some((a) => a.run === session.runSeq);
    return { kind: approved ? "publishing" : "working", sessionId: session.id };
  }
  return { kind: "nothing_waiting" };
}

/**
 * Resumes `waiting` with an approval, under its lease and only while it still waits: of two
 * `apply`s at once exactly one resumes it. Null when it no longer waits (another one won).
 */
async function approve(deps: LifecycleDeps, waiting: Session, stored: StoredMention, here: boolean): Promise<Session | null> {
  const { mention } = stored;
  return deps.sessions.withLock(waiting.id, async (current) => {
    if (current.status !== "plan_approval_required") return null;
    const run = current.runSeq + 1;
    const { startedNote: _previousNote, ...context } = current.callbackContext;
    const approvals = [...(context.approvals ?? []), { run, here, triggerKey: mention.triggerKey, actor: mention.actor, createdAt: mention.createdAt }];
    return deps.sessions.transition(
      current.id,
      "resume",
      { run, by: mention.actor.login, approval: here ? "apply here" : "apply" },
      { runSeq: run, startedNoteId: null, startedNoteDeletedAt: null, result: null, callbackContext: { ...context, approvals } },
    );
  });
}

/**
 * `@forgebot apply [here]` from someone who may write: the thread's change session waiting for
 * approval resumes (run + 1, a new started note) and its run publishes instead of asking the
 * model. The approval is stored with the mention's trigger key, so a repeated intake job finds
 * it applied and only finishes the start. With nothing waiting, one note per delivery says why.
 * Returns the resumed session's id, or undefined when nothing was applied.
 */
export async function applyFromMention(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient, here: boolean): Promise<number | undefined> {
  const { mention } = stored;
  const key = conversationKey(mention.thread);
  const latest = await deps.sessions.findLatestInConversation(key);
  // The latest session is usually the one waiting; otherwise an earlier one may be.
  const waiting = latest?.status === "plan_approval_required" ? latest : await deps.sessions.findLatestInConversation(key, ["plan_approval_required"]);
  const mine = (s: Session | null) => s?.callbackContext.approvals?.some((a) => a.triggerKey === mention.triggerKey) ?? false;
  let session = [latest, waiting].find(mine) ?? null;
  if (!session && waiting) session = await approve(deps, waiting, stored, here);
  if (session) {
    const approval = session.callbackContext.approvals?.find((a) => a.triggerKey === mention.triggerKey);
    if (approval?.run === session.runSeq && !isTerminal(session.status)) await startSession(deps, session, client, stored.receivedAt);
    deps.log.info({ sessionId: session.id, run: session.runSeq, here }, "change approved");
    return session.id;
  }
  // Read again: another `apply` may have resumed it since this one looked.
  const now = await deps.sessions.findLatestInConversation(key);
  const handle = deps.forges.handleFor(mention.forge);
  const marker = noticeMarker(`apply delivery=${stored.deliveryKey}`);
  await ensureNote(client, mention.thread, marker, applyNothingNote(handle, nothingToApply(now), stored.deliveryKey));
  return undefined;
}
