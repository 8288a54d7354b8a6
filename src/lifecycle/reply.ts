import { ForgeApiError, type ForgeClient } from "../sessions/forge-port.js";
import { ensureSessionNote } from "./notes.js";
import { errorText, isErrorReason, replyMarker, replyNote } from "../sessions/notes.js";
import type { LeaseClaim, LifecycleDeps, Logger, PatchEvent, SessionPatch } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";
import { hasReplied, owesDelivery } from "../sessions/obligations.js";
import { byline } from "./start.js";

function replyBody(deps: LifecycleDeps, session: Session): string {
  const url = deps.links.sessionUrl(session.id);
  const failed = session.status === "failed" || session.status === "stopped";
  const result = failed ? errorText(isErrorReason(session.errorReason) ? session.errorReason : "internal") : session.result;
  const footer = [byline(deps, session), usageFooter(session)].filter(Boolean).join("\n\n");
  return replyNote({ sessionId: session.id, url, result, run: session.runSeq, ...(footer ? { footer } : {}) });
}

function usageFooter(session: Session): string | undefined {
  const { inputTokens, outputTokens, costUsd, durationMs } = session.usage;
  if (inputTokens === undefined && outputTokens === undefined) return undefined;
  const parts = [`${((durationMs ?? 0) / 1000).toFixed(1)} s`, `${inputTokens ?? 0} in / ${outputTokens ?? 0} out tokens`];
  if (costUsd !== undefined) parts.push(`$${costUsd.toFixed(4)}`);
  return `<sub>${parts.join(" · ")}</sub>`;
}

/** What the started note's deletion left to record: the patch and its event, or nothing. */
type Deletion = { patch: SessionPatch; event: PatchEvent } | null;

/**
 * Deletes the started note. Never throws: a failure is recorded (event, metric, error log) and
 * the reply goes out regardless. A note already gone counts as deleted. The deletion itself is
 * recorded by the caller, with the reply, in one statement.
 */
async function deleteStartedNote(deps: LifecycleDeps, session: Session, client: ForgeClient, log: Logger): Promise<Deletion> {
  const note = session.callbackContext.startedNote;
  if (!note || session.startedNoteDeletedAt) return null;
  try {
    await client.deleteNote(session.callbackContext.thread, note);
    deps.metrics.startedNoteDeleted(session.forge, "deleted");
    return { patch: { startedNoteDeletedAt: new Date() }, event: { kind: "started_note_deleted", data: { noteId: note.id } } };
  } catch (err: unknown) {
    const status = err instanceof ForgeApiError ? err.status : undefined;
    if (status === 404) {
      deps.metrics.startedNoteDeleted(session.forge, "already_gone");
      return { patch: { startedNoteDeletedAt: new Date() }, event: { kind: "started_note_deleted", data: { noteId: note.id, alreadyGone: true } } };
    }
    const message = err instanceof Error ? err.message : String(err);
    await deps.sessions.addEvent(session.id, "started_note_delete_failed", { noteId: note.id, status: status ?? null, error: message.slice(0, 500) });
    deps.metrics.startedNoteDeleted(session.forge, "failed");
    deps.metrics.trackedError("started_note_delete");
    log.error({ err, noteId: note.id, status }, "started note could not be deleted");
    return null;
  }
}

/**
 * Answers in the thread: deletes the started note, then posts the reply unless a reply with
 * this session's marker is already there. Exactly one reply per run, however often it runs.
 * Run again after the reply went out, it only retries a started-note deletion that failed.
 * The lease comes with the reply's write-ahead intent, and goes back with the last write.
 */
export async function deliverSession(deps: LifecycleDeps, sessionId: number, run: number): Promise<void> {
  await deps.sessions.withLock(sessionId, (session, claim) => deliverLocked(deps, session, run, claim), { kind: "reply_intent", run });
}

async function deliverLocked(deps: LifecycleDeps, session: Session, run: number, claim: LeaseClaim): Promise<void> {
  const sessionId = session.id;
  if (session.runSeq !== run || !owesDelivery(session)) return;
  const replied = hasReplied(session);
  const log = deps.log.child({ sessionId, forge: session.forge, repo: session.repoPath });
  const client = await deps.forges.forgeFor(session.forge).clientFor(session.callbackContext.thread);

  const deletion = await deleteStartedNote(deps, session, client, log);
  if (replied) {
    if (deletion) await deps.sessions.update(sessionId, deletion.patch, deletion.event, { releaseLease: true });
    return;
  }

  try {
    const { note, posted } = await ensureSessionNote(deps, client, session, "reply", { run, marker: replyMarker(session.id, run), body: replyBody(deps, session) }, claim);
    // The reply's id, its event and the deletion in one statement: whoever sees the reply
    // recorded finds its event too.
    await deps.sessions.update(
      sessionId,
      { ...deletion?.patch, replyNoteId: note.id, contextPatch: { replyNote: note, replyRun: run } },
      [...(deletion ? [deletion.event] : []), { kind: posted ? "reply_posted" : "reply_found", data: { noteId: note.id, run } }],
      { releaseLease: true },
    );
    deps.metrics.replyDelivered(session.forge, posted ? "posted" : "found_existing");
  } catch (err: unknown) {
    deps.metrics.replyDelivered(session.forge, "failed");
    // The note is gone even though the reply is not out: never delete it twice.
    if (deletion) await deps.sessions.update(sessionId, deletion.patch, deletion.event).catch((recordErr: unknown) => log.warn({ err: recordErr }, "started note deletion could not be recorded"));
    throw err;
  }
}
