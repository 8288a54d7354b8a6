import type { ForgeClient, MentionEvent, ThreadRef } from "../forges/forge.js";
import { parseCommand } from "./command.js";
import { parseMention } from "./mention.js";
import { noticeMarker, nothingToRetryNote, nothingToStopNote, permissionNote, startedMarker, startedNote } from "./notes.js";
import type { LifecycleDeps, StoredMention } from "./ports.js";
import { conversationKey, type NewSession, type Session } from "./session.js";
import { TERMINAL_STATUSES, SESSION_STATUSES, isTerminal } from "./state-machine.js";

const ACTIVE = SESSION_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));

/** Posts a note unless a note with the same marker is already in the thread. */
export async function ensureNote(client: ForgeClient, thread: ThreadRef, marker: string, body: string, since?: Date) {
  const existing = await client.findNoteByMarker(thread, marker, since);
  if (existing) return { note: existing, posted: false };
  return { note: await client.postNote(thread, body), posted: true };
}

function newSessionFrom(mention: MentionEvent, fields: Pick<NewSession, "command" | "prompt" | "flow" | "parentSessionId" | "origin">): NewSession {
  return {
    ...fields,
    thread: mention.thread,
    triggerKey: mention.triggerKey,
    triggerCommentId: mention.triggerCommentId,
    actor: mention.actor,
    title: mention.title,
    threadUrl: mention.url,
    triggerCreatedAt: mention.createdAt,
  };
}

/**
 * Posts the started note (once, found by marker on a repeat) and queues the flow run.
 * Safe to call again for the same session and run.
 */
export async function startSession(deps: LifecycleDeps, session: Session, client: ForgeClient, receivedAt?: Date): Promise<void> {
  const run = session.runSeq;
  const thread = session.callbackContext.thread;
  if (!session.startedNoteId || session.callbackContext.startedNote === undefined) {
    const body = startedNote(session.id, deps.links.sessionUrl(session.id), run);
    const { note, posted } = await ensureNote(client, thread, startedMarker(session.id, run), body, session.createdAt);
    await deps.sessions.update(session.id, {
      startedNoteId: note.id,
      callbackContext: { ...session.callbackContext, startedNote: note },
    });
    await deps.sessions.addEvent(session.id, "started_note_posted", { noteId: note.id, run, found: !posted });
    if (receivedAt) deps.metrics.startedNoteLatency(session.forge, (Date.now() - receivedAt.getTime()) / 1000);
  }
  await deps.queue.enqueueRun(session.id, run);
}

async function handleStop(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient): Promise<number | undefined> {
  const { mention } = stored;
  const active = await deps.sessions.findLatestInConversation(conversationKey(mention.thread), ACTIVE);
  if (!active) {
    await ensureNote(client, mention.thread, noticeMarker(`stop delivery=${stored.deliveryKey}`), nothingToStopNote(stored.deliveryKey));
    return undefined;
  }
  await deps.sessions.update(active.id, { errorReason: "stopped" });
  await deps.sessions.transition(active.id, "stop", { by: mention.actor.login });
  // A running worker notices the status and aborts; a session with no worker is answered here.
  await deps.queue.enqueueDeliver(active.id, active.runSeq);
  return active.id;
}

async function retryTarget(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient): Promise<Session | null> {
  const { mention } = stored;
  const previous = await deps.sessions.findLatestInConversation(conversationKey(mention.thread));
  if (previous && isTerminal(previous.status)) return previous;
  const text = previous
    ? `Session ${previous.id} is still ${previous.status.replace(/_/g, " ")}; it can be retried once it has ended.\n\n${noticeMarker(`retry delivery=${stored.deliveryKey}`)}`
    : nothingToRetryNote(stored.deliveryKey);
  await ensureNote(client, mention.thread, noticeMarker(`retry delivery=${stored.deliveryKey}`), text);
  return null;
}

/**
 * Turns a recorded mention into a session: checks the commenter may spend, applies `stop` and
 * `retry`, creates the session (unique per trigger comment), posts the started note and queues
 * the run. Every step is repeat-safe, so the job may run any number of times.
 */
export async function handleMention(deps: LifecycleDeps, deliveryId: number): Promise<void> {
  const stored = await deps.deliveries.getMention(deliveryId);
  if (stored.status !== "received") return;
  const { mention } = stored;
  const forge = deps.forges.forgeFor(mention.forge);
  const handle = deps.forges.handleFor(mention.forge);
  const log = deps.log.child({ deliveryId: stored.deliveryKey, forge: mention.forge, repo: mention.thread.repoPath });
  const client = await forge.clientFor(mention.thread);

  if (!(await client.canUseBot(mention.actor))) {
    const threadKey = conversationKey(mention.thread);
    if (await deps.deliveries.claimPermissionNotice(mention.forge, threadKey, mention.actor.id)) {
      const who = mention.forge === "github" ? "people with write access" : "project members with at least the Developer role";
      const body = permissionNote({ mention: forge.markdown.mention(mention.actor.login), handle, who, actorId: mention.actor.id });
      await ensureNote(client, mention.thread, noticeMarker(`denied actor=${mention.actor.id}`), body);
    }
    log.info({ actor: mention.actor.login }, "mention from a user without write access ignored");
    await deps.deliveries.markProcessed(deliveryId, "denied");
    return;
  }

  const request = parseMention(mention.body, handle) ?? "";
  let parsed = parseCommand(request);
  if (parsed.command === "retry" && !(await deps.retryPolicy.retryAllowed({ ...mention.actor, forge: mention.forge }))) {
    parsed = { command: "chat", prompt: parsed.prompt };
  }

  if (parsed.command === "stop") {
    const stoppedId = await handleStop(deps, stored, client);
    await deps.deliveries.markProcessed(deliveryId, "stop", stoppedId);
    return;
  }

  let input: NewSession;
  if (parsed.command === "retry") {
    const parent = await retryTarget(deps, stored, client);
    if (!parent) {
      await deps.deliveries.markProcessed(deliveryId, "retry_refused");
      return;
    }
    input = newSessionFrom(mention, {
      command: parent.command,
      prompt: parent.prompt,
      flow: parent.flow,
      parentSessionId: parent.id,
      origin: "retry_command",
    });
  } else {
    input = newSessionFrom(mention, {
      command: parsed.command,
      prompt: parsed.prompt,
      flow: parsed.command,
      parentSessionId: null,
      origin: "mention",
    });
  }

  const { session, created } = await deps.sessions.createSession(input);
  if (created) log.info({ sessionId: session.id, flow: session.flow }, "session created");
  await startSession(deps, session, client, stored.receivedAt);
  await deps.deliveries.markProcessed(deliveryId, "accepted", session.id);
}
