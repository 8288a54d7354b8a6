import type { ForgeClient, MentionEvent } from "../sessions/forge-port.js";
import { changesNotEnabledText } from "../sessions/change-notes.js";
import { parseCommand, type Command } from "../sessions/command.js";
import { noticeMarker, permissionNote, reviewOnIssueNote } from "../sessions/notes.js";
import type { LifecycleDeps, StoredMention } from "../sessions/ports.js";
import { conversationKey, type NewSession, type Session } from "../sessions/session.js";
import { isTerminal } from "../sessions/state-machine.js";
import { truncate } from "../sessions/text.js";
import { applyDeniedMarker, applyDeniedNote } from "../sessions/publish-notes.js";
import { applyFromMention } from "./apply.js";
import { startFollowUp } from "./follow-up.js";
import { ensureNote } from "./notes.js";
import { commandTrigger, retrySession } from "./retry.js";
import { startSession } from "./start.js";
import { stopFromMention } from "./stop.js";

/** The flow a new session of a command runs, where its name differs from the command's. */
const FLOW_OF: Partial<Record<Command, string>> = { apply: "change" };

/** Longest request a session keeps (characters); longer ones are cut and say so. */
export const MAX_PROMPT_CHARS = 20_000;

/** Cuts an oversized request to MAX_PROMPT_CHARS; the notice reaches the flow and the page. */
export function truncatePrompt(prompt: string): string {
  return truncate(prompt, MAX_PROMPT_CHARS, "characters of the request");
}

function newSessionFrom(mention: MentionEvent, fields: Pick<NewSession, "command" | "prompt" | "flow" | "parentSessionId" | "origin" | "modifier">): NewSession {
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
  const { waiting, applied } = await deps.sessions.findResumable(key, mention.triggerKey);
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
  if (session.status === "input_required" || session.status === "plan_approval_required") {
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
  const log = deps.log.child({ deliveryId: stored.deliveryKey, forge: mention.forge, repo: mention.thread.repoPath });
  const client = await forge.clientFor(mention.thread);
  // After clientFor: a forge this process just picked up from the setup page brings its handle.
  const handle = deps.forges.handleFor(mention.forge);
  const request = deps.forges.requestIn(mention.forge, mention.body) ?? "";

  if (!(await client.canUseBot(mention.actor))) {
    // A reader is told once per thread that they may not use the bot; an `apply` from a reader
    // publishes nothing, and is told so once per thread too.
    const apply = parseCommand(request).command === "apply";
    const threadKey = conversationKey(mention.thread);
    const actorId = mention.actor.id;
    if (await deps.deliveries.claimPermissionNotice(mention.forge, apply ? `${threadKey}:apply` : threadKey, actorId)) {
      const { profile } = forge;
      const note = { mention: profile.mention(mention.actor.login), handle, who: profile.writersDescription, actorId };
      const [marker, body] = apply ? [applyDeniedMarker(actorId), applyDeniedNote(note)] : [noticeMarker(`denied actor=${actorId}`), permissionNote(note)];
      await ensureNote(client, mention.thread, marker, body);
    }
    log.info({ actor: mention.actor.login }, `${apply ? "apply" : "mention"} from a user without write access ignored`);
    await deps.deliveries.markProcessed(deliveryId, "denied");
    return;
  }

  // `retry` with manual_retry off for the asker is refused by the retry service in one fixed
  // line; it never becomes a prompt for the model.
  let parsed = parseCommand(request);
  // Commands whose flows this installation does not run are free text for the chat flow.
  if (!deps.flows.has(FLOW_OF[parsed.command] ?? parsed.command) && parsed.command !== "stop" && parsed.command !== "retry") {
    parsed = { command: "chat", prompt: request.trim() };
  }

  // Changes need the `code_changes` flag on for the user or the repository: one fixed line otherwise, nothing spent.
  if (parsed.command === "change" && !(await deps.changePolicy?.changesAllowed({ forge: mention.forge, login: mention.actor.login, repoPath: mention.thread.repoPath }))) {
    const marker = noticeMarker(`change delivery=${stored.deliveryKey}`);
    await ensureNote(client, mention.thread, marker, `${changesNotEnabledText(handle)}\n\n${marker}`);
    log.info({ actor: mention.actor.login }, "change request refused: code_changes is off for this user and repository");
    await deps.deliveries.markProcessed(deliveryId, "change_refused");
    return;
  }

  if (parsed.command === "stop") {
    const stoppedId = await stopFromMention(deps, stored, client);
    await deps.deliveries.markProcessed(deliveryId, "stop", stoppedId);
    return;
  }

  if (parsed.command === "retry") {
    const retryId = await handleRetry(deps, stored, client);
    await deps.deliveries.markProcessed(deliveryId, retryId === undefined ? "retry_refused" : "accepted", retryId);
    return;
  }

  if (parsed.command === "apply") {
    const appliedId = await applyFromMention(deps, stored, client, parsed.modifier === "here");
    await deps.deliveries.markProcessed(deliveryId, appliedId === undefined ? "apply_refused" : "applied", appliedId);
    return;
  }

  if (parsed.command === "review" && mention.thread.kind === "issue") {
    // One fixed line, once per delivery; no session, no model call.
    const body = reviewOnIssueNote(forge.profile.changeRequestName, stored.deliveryKey);
    await ensureNote(client, mention.thread, noticeMarker(`review delivery=${stored.deliveryKey}`), body);
    await deps.deliveries.markProcessed(deliveryId, "review_refused");
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
    flow: FLOW_OF[parsed.command] ?? parsed.command,
    parentSessionId: null,
    origin: "mention",
    ...(parsed.modifier ? { modifier: parsed.modifier } : {}),
  });

  // In a change request forgebot opened, free text continues the change that opened it.
  if (parsed.command === "chat") {
    const followUp = await startFollowUp(deps, stored, client, input);
    if (followUp) {
      await deps.deliveries.markProcessed(deliveryId, "accepted", followUp.id);
      return;
    }
  }

  const { session, created } = await deps.sessions.createSession(input);
  if (created) log.info({ sessionId: session.id, flow: session.flow }, "session created");
  await startSession(deps, session, client, stored.receivedAt);
  await deps.deliveries.markProcessed(deliveryId, "accepted", session.id);
}
