import { jobErrorKind } from "../sessions/errors.js";
import { deliverSession } from "./reply.js";
import type { LifecycleDeps, ReaperStore } from "../sessions/ports.js";
import { runPeriodically } from "./periodic.js";

export type ReaperSettings = {
  /** HEARTBEAT_TIMEOUT_MINUTES: running sessions silent this long are failed. */
  heartbeatTimeoutMs: number;
  /** How long an ended session's own delivery job has before the reaper steps in (10 min). */
  deliveryGraceMs?: number;
  maxDeliveryAttempts?: number;
  batchSize?: number;
};

export type ReapResult = { timedOut: number[]; deliveriesRetried: number[] };

const DEFAULTS = { deliveryGraceMs: 10 * 60_000, maxDeliveryAttempts: 6, batchSize: 50 };

/**
 * One reaper pass. Stale sessions are failed here and their timeout reply is queued (delivery
 * is idempotent and deletes the started note). Ended sessions still owing a note deletion or a
 * reply are delivered inline: their deliver job already ran, and its retained job id would
 * swallow a new enqueue.
 */
export async function reapOnce(deps: LifecycleDeps, store: ReaperStore, settings: ReaperSettings): Promise<ReapResult> {
  const { deliveryGraceMs, maxDeliveryAttempts, batchSize } = { ...DEFAULTS, ...settings };
  const result: ReapResult = { timedOut: [], deliveriesRetried: [] };

  for (const session of await store.failStaleSessions(settings.heartbeatTimeoutMs, batchSize)) {
    const log = deps.log.child({ sessionId: session.id, forge: session.forge, repo: session.repoPath });
    deps.metrics.reaperAction("session_timed_out");
    deps.metrics.sessionTransition("failed");
    deps.metrics.sessionFinished(session.forge, "failed", (Date.now() - session.createdAt.getTime()) / 1000, session.flow);
    const silentSeconds = Math.round((Date.now() - session.lastHeartbeat.getTime()) / 1000);
    log.warn({ previousStatus: session.previousStatus, silentSeconds }, "session failed by the reaper: heartbeat timed out");
    result.timedOut.push(session.id);
    try {
      await deps.queue.enqueueDeliver(session.id, session.runSeq);
    } catch (err: unknown) {
      // The session is failed already; a later pass delivers it inline once the grace has passed.
      deps.metrics.trackedError("reaper");
      log.error({ err }, "timeout reply could not be queued");
    }
  }

  for (const pending of await store.claimUnfinishedDeliveries(deliveryGraceMs, maxDeliveryAttempts, Math.min(batchSize, 20))) {
    const log = deps.log.child({ sessionId: pending.id, forge: pending.forge, repo: pending.repoPath });
    deps.metrics.reaperAction("delivery_retried");
    log.warn({ notePending: pending.notePending, replyMissing: pending.replyMissing }, "reaper retrying an unfinished delivery");
    result.deliveriesRetried.push(pending.id);
    try {
      await deliverSession(deps, pending.id, pending.runSeq);
    } catch (err: unknown) {
      // Another worker holds the session's note lock: it is delivering.
      if (jobErrorKind(err) === "busy") {
        log.info({}, "reaper skipped a session another worker is delivering");
        continue;
      }
      deps.metrics.trackedError("reaper");
      log.error({ err }, "reaper delivery retry failed");
    }
  }
  return result;
}

export type RunningReaper = { stop(): Promise<void> };

/** Runs `reapOnce` every `intervalMs` (see runPeriodically). */
export function startReaper(deps: LifecycleDeps, store: ReaperStore, settings: ReaperSettings & { intervalMs: number }): RunningReaper {
  return runPeriodically(settings.intervalMs, async () => {
    try {
      const { timedOut, deliveriesRetried } = await reapOnce(deps, store, settings);
      if (timedOut.length || deliveriesRetried.length) deps.log.info({ timedOut, deliveriesRetried }, "reaper pass done");
    } catch (err: unknown) {
      deps.metrics.trackedError("reaper");
      deps.log.error({ err }, "reaper pass failed");
    }
  });
}
