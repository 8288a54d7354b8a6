import type { JobQueue, Logger, ReconcilerStore } from "../sessions/ports.js";
import { runPeriodically } from "./periodic.js";

/**
 * Postgres is the source of truth and the queue only holds queue state: when Redis loses its
 * data (a restart without persistence, a failover) the jobs are gone but the rows are not. The
 * reconciler re-enqueues, for rows older than a grace period,
 * - webhook deliveries still `received` (their mention job),
 * - sessions `created`/`running` (their run job),
 * - sessions that owe a delivery (sessions/obligations.ts: their deliver job),
 * whenever the deterministic job is missing from the queue. Adding an existing job is a
 * no-op, so a race with a worker costs nothing. One process at a time holds the pass, so many
 * workers never fight over the same rows.
 */
export type ReconcilerSettings = { intervalMs: number; graceMs: number; batchSize?: number };
export type ReconcileResult = { mentions: number[]; runs: number[]; deliveries: number[]; skipped: boolean };
export type RunningReconciler = { stop(): Promise<void>; passOnce(): Promise<ReconcileResult> };

export type ReconcilerDeps = { store: ReconcilerStore; queue: JobQueue; log: Logger };

/** One pass; `skipped` when another process holds the pass. */
export async function reconcileOnce(deps: ReconcilerDeps, settings: Pick<ReconcilerSettings, "graceMs" | "batchSize">): Promise<ReconcileResult> {
  const limit = settings.batchSize ?? 200;
  const { store, queue } = deps;
  const result = await store.withPassLock(async () => {
    const done: ReconcileResult = { mentions: [], runs: [], deliveries: [], skipped: false };
    for (const deliveryId of await store.findReceivedDeliveries(settings.graceMs, limit)) {
      if (await queue.isQueued({ kind: "mention", deliveryId })) continue;
      await queue.enqueueMention(deliveryId);
      done.mentions.push(deliveryId);
    }
    for (const { sessionId, run } of await store.findActiveRuns(settings.graceMs, limit)) {
      if (await queue.isQueued({ kind: "run", sessionId, run })) continue;
      await queue.enqueueRun(sessionId, run);
      done.runs.push(sessionId);
    }
    for (const { sessionId, run } of await store.findOwedDeliveries(settings.graceMs, limit)) {
      if (await queue.isQueued({ kind: "deliver", sessionId, run })) continue;
      await queue.enqueueDeliver(sessionId, run);
      done.deliveries.push(sessionId);
    }
    return done;
  });
  return result ?? { mentions: [], runs: [], deliveries: [], skipped: true };
}

/**
 * Runs `reconcileOnce` every `intervalMs` (passes never overlap). A failed pass (Postgres or
 * the queue away) is logged and retried on the next tick. `stop` clears the timer and waits.
 */
export function startReconciler(deps: ReconcilerDeps, settings: ReconcilerSettings): RunningReconciler {
  const periodic = runPeriodically(settings.intervalMs, async () => {
    try {
      const r = await reconcileOnce(deps, settings);
      if (r.mentions.length || r.runs.length || r.deliveries.length) {
        deps.log.warn({ mentions: r.mentions, runs: r.runs, deliveries: r.deliveries }, "reconciler re-enqueued jobs missing from the queue");
      }
    } catch (err: unknown) {
      deps.log.warn({ err }, "reconciler pass failed");
    }
  });
  return { passOnce: () => reconcileOnce(deps, settings), stop: () => periodic.stop() };
}
