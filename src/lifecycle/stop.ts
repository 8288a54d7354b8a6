import type { Actor, ForgeClient } from "../sessions/forge-port.js";
import { InvalidTransitionError } from "../sessions/errors.js";
import { noticeMarker, nothingToStopNote } from "../sessions/notes.js";
import type { LifecycleDeps, StoredMention } from "../sessions/ports.js";
import { conversationKey, type Session } from "../sessions/session.js";
import { ACTIVE_STATUSES, type SessionStatus } from "../sessions/state-machine.js";
import { ensureNote } from "./notes.js";

/** Marks `active` stopped by `by`; a running worker notices and aborts, a session no worker holds is answered by the queued delivery. */
async function stop(deps: LifecycleDeps, active: Session, data: Record<string, unknown>): Promise<Session> {
  const stopped = await deps.sessions.transition(active.id, "stop", data, { errorReason: "stopped" });
  await deps.queue.enqueueDeliver(active.id, active.runSeq);
  return stopped;
}

/**
 * `@forgebot stop`: stops the thread's newest active session. With nothing to stop, one notice
 * per delivery says so. Returns the stopped session's id.
 */
export async function stopFromMention(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient): Promise<number | undefined> {
  const { mention } = stored;
  const active = await deps.sessions.findLatestInConversation(conversationKey(mention.thread), ACTIVE_STATUSES);
  if (!active) {
    await ensureNote(client, mention.thread, noticeMarker(`stop delivery=${stored.deliveryKey}`), nothingToStopNote(stored.deliveryKey));
    return undefined;
  }
  await stop(deps, active, { by: mention.actor.login });
  return active.id;
}

/** What the session page's Stop button may stop: a session not yet answered by its flow. */
export const STOPPABLE_FROM_PAGE: readonly SessionStatus[] = ["created", "running"];

export type StopOutcome = { kind: "stopped"; session: Session } | { kind: "not_stoppable"; session: Session };

/**
 * The session page's Stop, pressed by a signed-in `actor` the web has found may write. Only
 * created or running sessions; pressing again on a session already stopped is harmless, and a
 * session that ended meanwhile is left as it ended.
 */
export async function stopFromButton(deps: LifecycleDeps, session: Session, actor: Actor): Promise<StopOutcome> {
  const current = await deps.sessions.getSession(session.id);
  if (current.status === "stopped") return { kind: "stopped", session: current };
  if (!STOPPABLE_FROM_PAGE.includes(current.status)) return { kind: "not_stoppable", session: current };
  try {
    const stopped = await stop(deps, current, { by: actor.login, origin: "button" });
    deps.log.info({ sessionId: current.id, forge: current.forge, repo: current.repoPath }, "session stopped from its page");
    return { kind: "stopped", session: stopped };
  } catch (err: unknown) {
    if (!(err instanceof InvalidTransitionError)) throw err;
    return { kind: "not_stoppable", session: await deps.sessions.getSession(current.id) };
  }
}
