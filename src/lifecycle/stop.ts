import type { ForgeClient } from "../sessions/forge-port.js";
import { noticeMarker, nothingToStopNote } from "../sessions/notes.js";
import type { LifecycleDeps, StoredMention } from "../sessions/ports.js";
import { conversationKey } from "../sessions/session.js";
import { ACTIVE_STATUSES } from "../sessions/state-machine.js";
import { ensureNote } from "./notes.js";

/**
 * `@forgebot stop`: stops the thread's newest active session. A running worker notices the
 * status and aborts its flow; a session no worker holds is answered by the queued delivery.
 * With nothing to stop, one notice per delivery says so. Returns the stopped session's id.
 */
export async function stopFromMention(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient): Promise<number | undefined> {
  const { mention } = stored;
  const active = await deps.sessions.findLatestInConversation(conversationKey(mention.thread), ACTIVE_STATUSES);
  if (!active) {
    await ensureNote(client, mention.thread, noticeMarker(`stop delivery=${stored.deliveryKey}`), nothingToStopNote(stored.deliveryKey));
    return undefined;
  }
  await deps.sessions.transition(active.id, "stop", { by: mention.actor.login }, { errorReason: "stopped" });
  // A running worker notices the status and aborts; a session with no worker is answered here.
  await deps.queue.enqueueDeliver(active.id, active.runSeq);
  return active.id;
}
