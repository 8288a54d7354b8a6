import type { ForgeClient, MentionEvent, ThreadRef } from "../forges/forge.js";
import { parseCommand } from "./command.js";
import { parseMention } from "./mention.js";
import { noticeMarker, nothingToStopNote, permissionNote, startedMarker, startedNote } from "./notes.js";
import type { LifecycleDeps, StoredMention } from "./ports.js";
import { conversationKey, type NewSession, type Session } from "./session.js";
import { commandTrigger, retrySession } from "./retry.js";
import { TERMINAL_STATUSES, SESSION_STATUSES, isTerminal } from "./state-machine.js";

const ACTIVE = SESSION_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));

/** Longest request a session keeps (characters); longer ones are cut and say so. */
export const MAX_PROMPT_CHARS = 20_000;

/** Cuts an oversized request to MAX_PROMPT_CHARS and appends a notice the flow and the page show. */
export function truncatePrompt(prompt: string): string {
  if (prompt.length <= MAX_PROMPT_CHARS) return prompt;
  // Never split a surrogate pair: the cut text must stay valid UTF-16.
  let cut = prompt.slice(0, MAX_PROMPT_CHARS);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}\n\n[forgebot: the request was ${prompt.length} characters long and was truncated to the first ${MAX_PROMPT_CHARS}.]`;
}

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
) {
  const thread = session.callbackContext.thread;
  const intent = `${what}_intent`;
  if (await deps.sessions.hasEvent(session.id, intent, note.run)) {
    const existing = await client.findNoteByMarker(thread, note.marker, session.createdAt);
    if (existing) return { note: existing, posted: false };
  } else {
    await deps.sessions.addEvent(session.id, intent, { run: note.run });
  }
  return { note: await client.postNote(thread, note.body), posted: true };
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
 * Posts the started note (once, found by marker on a repeat), then queues the flow run, so
 * users always see the note before the answer. Started notes have the highest priority in the
 * write budget. A session that ended before its note went out (stopped meanwhile) gets no note,
 * only its reply. Safe to call again.
 */
export async function startSession(deps: LifecycleDeps, session: Session, client: ForgeClient, receivedAt?: Date): Promise<void> {
  const run = session.runSeq;
  await deps.sessions.withLock(session.id, async () => {
    // Re-read under the lease: a concurrent run of this job may have posted the note already.
    const current = await deps.sessions.getSession(session.id);
    if (current.runSeq !== run) return;
    if (current.startedNoteId && current.callbackContext.startedNote !== undefined) return;
    if (current.status !== "created" && current.status !== "running") {
      await deps.sessions.addEvent(current.id, "started_note_skipped", { run, status: current.status });
      return;
    }
    const body = startedNote(current.id, deps.links.sessionUrl(current.id), run);
    const { note, posted } = await ensureSessionNote(deps, client, current, "started_note", { run, marker: startedMarker(current.id, run), body });
    const latest = await deps.sessions.getSession(current.id);
    await deps.sessions.update(current.id, {
      startedNoteId: note.id,
      callbackContext: { ...latest.callbackContext, startedNote: note },
    });
    await deps.sessions.addEvent(current.id, "started_note_posted", { noteId: note.id, run, found: !posted });
    if (receivedAt) deps.metrics.startedNoteLatency(current.forge, (Date.now() - receivedAt.getTime()) / 1000);
  });
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

/** `@forgebot retry` through the retry service; a refusal is explained once in the thread. */
async function handleRetry(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient): Promise<number | undefined> {
  const { mention } = stored;
  const previous = await deps.sessions.findLatestInConversation(conversationKey(mention.thread));
  const outcome = await retrySession(deps, previous, commandTrigger(mention), {
    client,
    receivedAt: stored.receivedAt,
    // One job per delivery runs at a time, so a repeated job always resumes the child's start.
    restartExisting: async () => true,
  });
  if (outcome.kind === "started") return outcome.session.id;
  const marker = noticeMarker(`retry delivery=${stored.deliveryKey}`);
  await ensureNote(client, mention.thread, marker, `${outcome.message}\n\n${marker}`);
  return undefined;
}

/**
 * The next authorized mention in a thread whose session waits for input is the answer: the
 * same session continues (run + 1, a new started note, its history intact) instead of a new
 * one starting. Repeat-safe: the answer is stored with the mention's trigger key, so a repeated
 * job finds it applied and only finishes what is left. Null when no session is waiting.
 */
async function resumeWaitingSession(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient, answer: string): Promise<Session | null> {
  const { mention } = stored;
  const key = conversationKey(mention.thread);
  const waiting = await deps.sessions.findLatestInConversation(key, ["input_required"]);
  const latest = await deps.sessions.findLatestInConversation(key);
  const applied = [waiting, latest].find((s) => s?.callbackContext.inputs?.some((i) => i.triggerKey === mention.triggerKey)) ?? null;
  let session: Session;
  if (applied) {
    const input = applied.callbackContext.inputs?.find((i) => i.triggerKey === mention.triggerKey);
    if (applied.runSeq !== input?.run || isTerminal(applied.status)) return applied;
    session = applied;
  } else {
    if (!waiting) return null;
    const run = waiting.runSeq + 1;
    const { startedNote: _previousNote, ...context } = waiting.callbackContext;
    const inputs = [...(context.inputs ?? []), { run, text: answer, triggerKey: mention.triggerKey, actor: mention.actor, createdAt: mention.createdAt }];
    session = await deps.sessions.update(waiting.id, {
      runSeq: run,
      startedNoteId: null,
      startedNoteDeletedAt: null,
      result: null,
      // The resumed run may read what was written up to the answer, and no later.
      callbackContext: { ...context, triggerCreatedAt: mention.createdAt, inputs },
    });
  }
  if (session.status === "input_required") {
    session = await deps.sessions.transition(session.id, "resume", { run: session.runSeq, by: mention.actor.login });
  }
  await startSession(deps, session, client, stored.receivedAt);
  return session;
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

  if (parsed.command === "retry") {
    const retryId = await handleRetry(deps, stored, client);
    await deps.deliveries.markProcessed(deliveryId, retryId === undefined ? "retry_refused" : "accepted", retryId);
    return;
  }

  if (parsed.command === "chat") {
    const resumed = await resumeWaitingSession(deps, stored, client, truncatePrompt(parsed.prompt));
    if (resumed) {
      log.info({ sessionId: resumed.id, run: resumed.runSeq }, "session resumed with the user's answer");
      await deps.deliveries.markProcessed(deliveryId, "resumed", resumed.id);
      return;
    }
  }

  const input = newSessionFrom(mention, {
    command: parsed.command,
    prompt: truncatePrompt(parsed.prompt),
    flow: parsed.command,
    parentSessionId: null,
    origin: "mention",
  });

  const { session, created } = await deps.sessions.createSession(input);
  if (created) log.info({ sessionId: session.id, flow: session.flow }, "session created");
  await startSession(deps, session, client, stored.receivedAt);
  await deps.deliveries.markProcessed(deliveryId, "accepted", session.id);
}
