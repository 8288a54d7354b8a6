import type { Actor, ForgeClient, MentionEvent, ThreadRef } from "../sessions/forge-port.js";
import { RETRY_NOT_ALLOWED_TEXT } from "../sessions/notes.js";
import type { LifecycleDeps, RetryMetricOutcome } from "../sessions/ports.js";
import type { Session, SessionOrigin } from "../sessions/session.js";
import { isTerminal } from "../sessions/state-machine.js";
import { RetryStartError } from "../sessions/errors.js";
import { startSession } from "./start.js";

/**
 * Retry: one service behind the `@forgebot retry` command and the session page's button. A
 * retry is a new session with the parent's command, prompt and flow (`parent_session_id` set,
 * origin `retry_command` or `retry_button`) that posts its own started note in the parent's
 * thread and runs like any session. Only ended sessions (finished, failed, stopped) can be
 * retried, as often as asked: each retry is a new session; only double-fires (concurrent or
 * repeated presses while a retry is being made) reach the same one. Whoever the `manual_retry`
 * policy turns away gets one fixed refusal and nothing is created.
 */

/**
 * A button press within this long of the last button retry of the same parent is a double-fire
 * and reaches that retry even when it has already ended (a flow quicker than the second click).
 */
export const DOUBLE_FIRE_MS = 1000;

/** What asked for the retry. `triggerKey` is unique per forge, which makes the retry repeat-safe. */
export type RetryTrigger = {
  origin: Extract<SessionOrigin, "retry_command" | "retry_button">;
  actor: Actor;
  triggerKey: string;
  triggerCommentId: string | null;
  thread: ThreadRef;
  title: string;
  threadUrl: string | undefined;
  triggerCreatedAt: string;
};

export type RetryRefusal = "nothing_to_retry" | "not_ended" | "not_allowed";

export type RetryOutcome =
  | { kind: "refused"; reason: RetryRefusal; message: string }
  | { kind: "started"; session: Session; created: boolean };

export type RetryOptions = {
  /** The parent thread's client when the caller already holds one. */
  client?: ForgeClient;
  receivedAt?: Date;
  /**
   * Whether to start a child that already existed (a repeated request). The command's job runs
   * one at a time, so it always resumes; the button resumes only a start it claims as stalled,
   * so concurrent duplicate POSTs never post two started notes.
   */
  restartExisting(child: Session): Promise<boolean>;
};

/**
 * The trigger key of a button retry of `parent`, given its newest button retry so far. While that
 * retry has not ended (or was made a moment ago) a press is a double-fire and gets its key, so
 * the insert finds it; otherwise the key names the retry it follows
 * (`retry-of-<parent>-after-<previous or 0>`), which concurrent presses all compute alike.
 */
export function buttonTriggerKey(parent: Session, previous: Session | null, now = new Date()): string {
  const doubleFire = previous !== null && (!isTerminal(previous.status) || now.getTime() - previous.createdAt.getTime() < DOUBLE_FIRE_MS);
  if (doubleFire && previous.triggerKey) return previous.triggerKey;
  return `retry-of-${parent.id}-after-${previous?.id ?? 0}`;
}

/**
 * The trigger of a button retry pressed by `actor`, a signed-in user who may write: the retry is
 * theirs (its notes say so, its usage is counted for them).
 */
export function buttonTrigger(parent: Session, actor: Actor, triggerKey: string): RetryTrigger {
  const context = parent.callbackContext;
  return {
    origin: "retry_button",
    actor,
    triggerKey,
    triggerCommentId: null,
    thread: context.thread,
    title: context.title,
    threadUrl: context.threadUrl,
    // The same prompt over the same thread: the agent reads the comments the parent could read.
    triggerCreatedAt: context.triggerCreatedAt,
  };
}

/** The trigger of `@forgebot retry`: the retry comment itself. */
export function commandTrigger(mention: MentionEvent): RetryTrigger {
  return {
    origin: "retry_command",
    actor: mention.actor,
    triggerKey: mention.triggerKey,
    triggerCommentId: mention.triggerCommentId,
    thread: mention.thread,
    title: mention.title,
    threadUrl: mention.url,
    triggerCreatedAt: mention.createdAt,
  };
}

type Refused = Extract<RetryOutcome, { kind: "refused" }>;

const NOTHING_TO_RETRY: Refused = { kind: "refused", reason: "nothing_to_retry", message: "There is no earlier session in this thread to retry." };

/** Why `parent` cannot be retried now, or null when it can (the policy aside). */
export function retryRefusal(parent: Session | null): Refused | null {
  if (!parent) return NOTHING_TO_RETRY;
  if (isTerminal(parent.status)) return null;
  const message = `Session ${parent.id} is still ${parent.status.replace(/_/g, " ")}; it can be retried once it has ended.`;
  return { kind: "refused", reason: "not_ended", message };
}

/**
 * Retries `parent`: refuses actors the `manual_retry` policy turns away (first, so they always
 * get the same line) and sessions that have not ended, otherwise creates the child (once per
 * trigger), records `retried` on the parent, posts the child's started note and queues its run.
 * Safe to repeat for the same trigger. Throws RetryStartError when the child was created but
 * could not be started. Counts `forgebot_retries_total`.
 */
export async function retrySession(
  deps: LifecycleDeps,
  parent: Session | null,
  trigger: RetryTrigger,
  options: RetryOptions,
): Promise<RetryOutcome> {
  const count = (outcome: RetryMetricOutcome) => deps.metrics.retryRequested(trigger.origin === "retry_button" ? "button" : "command", outcome);
  const subject = { forge: trigger.thread.forge, login: trigger.actor.login, repoPath: parent?.repoPath ?? trigger.thread.repoPath };
  if (!(await deps.retryPolicy.retryAllowed(subject))) {
    count("not_allowed");
    return { kind: "refused", reason: "not_allowed", message: RETRY_NOT_ALLOWED_TEXT };
  }
  const refusal = retryRefusal(parent);
  if (refusal || !parent) {
    count("refused");
    return refusal ?? NOTHING_TO_RETRY;
  }

  const { session, created } = await deps.sessions.createSession({
    thread: trigger.thread,
    triggerKey: trigger.triggerKey,
    triggerCommentId: trigger.triggerCommentId,
    actor: trigger.actor,
    command: "retry",
    prompt: parent.prompt,
    flow: parent.flow,
    parentSessionId: parent.id,
    origin: trigger.origin,
    title: trigger.title,
    threadUrl: trigger.threadUrl,
    triggerCreatedAt: trigger.triggerCreatedAt,
    ...(parent.callbackContext.modifier ? { modifier: parent.callbackContext.modifier } : {}),
  });
  const log = deps.log.child({ sessionId: session.id, parentSessionId: parent.id, forge: parent.forge, repo: parent.repoPath });
  count(created ? "started" : "duplicate");
  if (created) {
    await deps.sessions.addEvent(parent.id, "retried", { sessionId: session.id, origin: trigger.origin, by: trigger.actor.login });
    log.info({ origin: trigger.origin }, "session retried");
  } else if (!(await options.restartExisting(session))) {
    return { kind: "started", session, created };
  }
  try {
    const client = options.client ?? (await deps.forges.forgeFor(session.forge).clientFor(session.callbackContext.thread));
    await startSession(deps, session, client, options.receivedAt);
  } catch (err: unknown) {
    throw new RetryStartError(session, { cause: err });
  }
  return { kind: "started", session, created };
}

/**
 * The session page's Retry, pressed by a signed-in `actor` the web has found may write: a new
 * retry of `parent` unless this press is a double-fire of the last one (buttonTriggerKey).
 */
export async function retryFromButton(deps: LifecycleDeps, parent: Session, actor: Actor, options: Pick<RetryOptions, "restartExisting">): Promise<RetryOutcome> {
  const previous = await deps.sessions.findLatestRetry(parent.id, "retry_button");
  return retrySession(deps, parent, buttonTrigger(parent, actor, buttonTriggerKey(parent, previous)), options);
}
