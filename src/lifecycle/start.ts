import type { ForgeClient } from "../sessions/forge-port.js";
import { retriedByLine, startedMarker, startedNote } from "../sessions/notes.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";
import { ensureSessionNote } from "./notes.js";

/** "Retried by @login" on a retry from the session page, where no comment in the thread names who asked. */
export function byline(deps: LifecycleDeps, session: Session): string | undefined {
  return session.origin === "retry_button" ? retriedByLine(deps.forges.profileFor(session.forge).mention(session.actor.login)) : undefined;
}

/**
 * Posts the started note (once, found by marker on a repeat), then queues the flow run, so
 * users always see the note before the answer. Started notes have the highest priority in the
 * write budget. A session that ended before its note went out (stopped meanwhile) gets no note,
 * only its reply. Safe to call again.
 */
export async function startSession(deps: LifecycleDeps, session: Session, client: ForgeClient, receivedAt?: Date): Promise<void> {
  const run = session.runSeq;
  await deps.sessions.withLock(
    session.id,
    async (current, claim) => {
    // Read as the lease was taken: a concurrent run of this job may have posted the note already.
    if (current.runSeq !== run) return;
    if (current.startedNoteId && current.callbackContext.startedNote !== undefined) return;
    if (current.status !== "created" && current.status !== "running") {
      await deps.sessions.addEvent(current.id, "started_note_skipped", { run, status: current.status });
      return;
    }
    const body = startedNote(current.id, deps.links.sessionUrl(current.id), run, byline(deps, current));
    const { note, posted } = await ensureSessionNote(deps, client, current, "started_note", { run, marker: startedMarker(current.id, run), body }, claim);
    await deps.sessions.update(
      current.id,
      { startedNoteId: note.id, contextPatch: { startedNote: note } },
      { kind: "started_note_posted", data: { noteId: note.id, run, found: !posted } },
      { releaseLease: true },
    );
    if (receivedAt) deps.metrics.startedNoteLatency(current.forge, (Date.now() - receivedAt.getTime()) / 1000);
    },
    // The lease comes with the started note's write-ahead intent.
    { kind: "started_note_intent", run },
  );
  await deps.queue.enqueueRun(session.id, run);
}
