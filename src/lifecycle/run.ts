import { FlowError, RunInterruptedError } from "../sessions/errors.js";
import type { ErrorReason } from "../sessions/notes.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import { deliverSession } from "./reply.js";
import type { Session } from "../sessions/session.js";
import { isTerminal } from "../sessions/state-machine.js";

function watchForStop(deps: LifecycleDeps, sessionId: number, controller: AbortController): () => void {
  const timer = setInterval(() => {
    deps.sessions
      .findSession(sessionId)
      .then((s) => {
        // Stopped by a user, or failed by the reaper: either way nobody waits for this run.
        if (s?.status === "stopped") controller.abort(new FlowError("stopped"));
        else if (s && isTerminal(s.status)) controller.abort(new FlowError("timeout"));
      })
      .catch((err: unknown) => deps.log.warn({ sessionId, err }, "stop watch poll failed"));
  }, deps.stopPollMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Rejects with the signal's reason once it aborts. */
function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

async function fail(deps: LifecycleDeps, session: Session, reason: ErrorReason, detail: string): Promise<Session> {
  await deps.sessions.addEvent(session.id, "error", { reason, detail: detail.slice(0, 2000) });
  return deps.sessions.transition(session.id, reason === "stopped" ? "stop" : "drop", { reason }, { errorReason: reason });
}

/**
 * Answers in the thread right away (one job fewer per session); when that fails, the deliver
 * job takes over with its retries. Delivery is idempotent, so both may run.
 */
async function deliverNow(deps: LifecycleDeps, sessionId: number, run: number): Promise<void> {
  try {
    await deliverSession(deps, sessionId, run);
  } catch (err: unknown) {
    deps.log.debug({ err, sessionId }, "delivery after the run failed; queueing the deliver job");
    await deps.queue.enqueueDeliver(sessionId, run);
  }
}

/**
 * Runs the session's flow once and records the outcome, then queues delivery. A repeat (the
 * job stalled after a crash) resumes: a session already ended is only delivered again.
 * `shutdown` aborts the flow without ending the session, so another worker picks it up.
 */
export async function runSession(deps: LifecycleDeps, sessionId: number, run: number, shutdown: AbortSignal): Promise<void> {
  const session = await deps.sessions.beginRun(sessionId, run);
  if (!session) {
    // Another run, or the session ended meanwhile: it may still owe its thread an answer.
    await deliverNow(deps, sessionId, (await deps.sessions.getSession(sessionId)).runSeq);
    return;
  }
  const log = deps.log.child({ sessionId, forge: session.forge, repo: session.repoPath });

  const controller = new AbortController();
  const onShutdown = () => controller.abort(new RunInterruptedError("worker shutting down"));
  shutdown.addEventListener("abort", onShutdown, { once: true });
  const stopWatch = watchForStop(deps, sessionId, controller);
  const forge = deps.forges.forgeFor(session.forge);
  let ended: Session = session;
  try {
    const running = deps.flows.flowFor(session.flow).run(session, {
      signal: controller.signal,
      forge: await forge.clientFor(session.callbackContext.thread),
      handle: deps.forges.handleFor(session.forge),
      profile: forge.profile,
      log,
      heartbeat: () => deps.sessions.touch(sessionId),
    });
    // A flow that ignores its signal must not hold a stop or a shutdown hostage; whatever it
    // does after being abandoned is dropped (never an unhandled rejection).
    running.catch(() => undefined);
    const outcome = await Promise.race([running, abortion(controller.signal)]);
    if (controller.signal.aborted) throw controller.signal.reason;
    const usage = { ...session.usage, ...outcome.usage, durationMs: Date.now() - session.createdAt.getTime() };
    // The outcome and the status change in one statement; a session stopped meanwhile keeps neither.
    if (outcome.kind === "finished") ended = await deps.sessions.transition(sessionId, "finish", {}, { result: outcome.markdown, usage });
    else if (outcome.kind === "plan_approval_required") ended = await deps.sessions.transition(sessionId, "require_plan_approval", {}, { result: outcome.markdown, usage });
    else ended = await deps.sessions.transition(sessionId, "require_input", {}, { result: outcome.question, usage });
  } catch (err: unknown) {
    const reason = controller.signal.reason ?? err;
    if (reason instanceof RunInterruptedError) throw reason;
    const current = await deps.sessions.getSession(sessionId);
    ended = current;
    if (!isTerminal(current.status)) {
      if (reason instanceof FlowError) ended = await fail(deps, current, reason.reason, reason.message);
      else {
        log.error({ err }, "flow failed unexpectedly");
        ended = await fail(deps, current, "internal", err instanceof Error ? err.message : String(err));
      }
    }
  } finally {
    stopWatch();
    shutdown.removeEventListener("abort", onShutdown);
  }
  deps.metrics.sessionFinished(ended.forge, ended.status, (Date.now() - ended.createdAt.getTime()) / 1000, ended.flow);
  await deliverNow(deps, sessionId, run);
}
