import { ForgeApiError, type ForgeClient } from "../sessions/forge-port.js";
import { ensureSessionNote } from "./notes.js";
import { errorText, isErrorReason, replyMarker, replyNote } from "../sessions/notes.js";
import type { LifecycleDeps, Logger } from "../sessions/ports.js";
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

/**
 * Deletes the started note. Never throws: a failure is recorded (event, metric, error log) and
 * the reply goes out regardless. A note already gone counts as deleted.
 */
async function deleteStartedNote(deps: LifecycleDeps, session: Session, client: ForgeClient, log: Logger): Promise<void> {
  const note = session.callbackContext.startedNote;
  if (!note || session.startedNoteDeletedAt) return;
  try {
    await client.deleteNote(session.callbackContext.thread, note);
    await deps.sessions.update(session.id, { startedNoteDeletedAt: new Date() }, { kind: "started_note_deleted", data: { noteId: note.id } });
    deps.metrics.startedNoteDeleted(session.forge, "deleted");
  } catch (err: unknown) {
    const status = err instanceof ForgeApiError ? err.status : undefined;
    if (status === 404) {
      await deps.sessions.update(session.id, { startedNoteDeletedAt: new Date() }, { kind: "started_note_deleted", data: { noteId: note.id, alreadyGone: true } });
      deps.metrics.startedNoteDeleted(session.forge, "already_gone");
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    await deps.sessions.addEvent(session.id, "started_note_delete_failed", { noteId: note.id, status: status ?? null, error: message.slice(0, 500) });
    deps.metrics.startedNoteDeleted(session.forge, "failed");
    deps.metrics.trackedError("started_note_delete");
    log.error({ err, noteId: note.id, status }, "started note could not be deleted");
  }
}

/**
 * Answers in the thread: deletes the started note, then posts the reply unless a reply with
 * this session's marker is already there. Exactly one reply per run, however often it runs.
 * Run again after the reply went out, it only retries a started-note deletion that failed.
 */
export async function deliverSession(deps: LifecycleDeps, sessionId: number, run: number): Promise<void> {
  await deps.sessions.withLock(sessionId, (session) => deliverLocked(deps, session, run));
}

async function deliverLocked(deps: LifecycleDeps, session: Session, run: number): Promise<void> {
  const sessionId = session.id;
  if (session.runSeq !== run || !owesDelivery(session)) return;
  const replied = hasReplied(session);
  const log = deps.log.child({ sessionId, forge: session.forge, repo: session.repoPath });
  const client = await deps.forges.forgeFor(session.forge).clientFor(session.callbackContext.thread);

  await deleteStartedNote(deps, session, client, log);
  if (replied) return;

  try {
    const { note, posted } = await ensureSessionNote(deps, client, session, "reply", { run, marker: replyMarker(session.id, run), body: replyBody(deps, session) });
    // The reply's id and its event in one statement: whoever sees the reply recorded finds its event too.
    await deps.sessions.update(sessionId, { replyNoteId: note.id, contextPatch: { replyNote: note, replyRun: run } }, { kind: posted ? "reply_posted" : "reply_found", data: { noteId: note.id, run } });
    deps.metrics.replyDelivered(session.forge, posted ? "posted" : "found_existing");
  } catch (err: unknown) {
    deps.metrics.replyDelivered(session.forge, "failed");
    throw err;
  }
}
