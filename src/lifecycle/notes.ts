import type { ForgeClient, ThreadRef } from "../sessions/forge-port.js";
import type { LeaseClaim, LifecycleDeps } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";

/** Posts a note unless a note with the same marker is already in the thread. */
export async function ensureNote(client: ForgeClient, thread: ThreadRef, marker: string, body: string, since?: Date) {
  const existing = await client.findNoteByMarker(thread, marker, since);
  if (existing) return { note: existing, posted: false };
  return { note: await client.postNote(thread, body), posted: true };
}

/**
 * Posts a session's started note or reply once per run. An intent event is written before the
 * post; only when one exists already (an earlier attempt may have posted, then died) is the
 * thread searched for the marker. The usual path costs no forge read.
 */
export async function ensureSessionNote(
  deps: LifecycleDeps,
  client: ForgeClient,
  session: Session,
  what: "started_note" | "reply",
  note: { run: number; marker: string; body: string },
  /** The intent, when the caller's lease already claimed it (`withLock`'s `intent`). */
  claim?: LeaseClaim,
) {
  const thread = session.callbackContext.thread;
  const first = claim ? claim.firstClaim : await deps.sessions.claimIntent(session.id, `${what}_intent`, note.run);
  if (!first) {
    const existing = await client.findNoteByMarker(thread, note.marker, session.createdAt);
    if (existing) return { note: existing, posted: false };
  }
  return { note: await client.postNote(thread, note.body), posted: true };
}
