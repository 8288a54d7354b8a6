import type { Queue } from "bullmq";
import type { Logger } from "../logging/logger.js";
import type { JobQueue } from "../sessions/ports.js";
import type { Db } from "../storage/pool.js";
import { jobIds } from "./names.js";
import { runPeriodically } from "../sessions/periodic.js";

/**
 * Postgres is the source of truth and Redis only holds queue state: when Redis loses its data
 * (a restart without persistence, a failover) the jobs are gone but the rows are not. The
 * reconciler re-enqueues, for rows older than a grace period,
 * - webhook deliveries still `received` (their mention job),
 * - sessions `created`/`running` (their run job),
 * - ended sessions still owing a note deletion or a reply (their deliver job),
 * whenever the deterministic job id is missing from the queue. Adding an existing id is a
 * no-op, so a race with a worker costs nothing. One process at a time holds the pass
 * (`pg_try_advisory_lock`), so many workers never fight over the same rows.
 */
export type ReconcilerSettings = { intervalMs: number; graceMs: number; batchSize?: number };
export type ReconcileResult = { mentions: number[]; runs: number[]; deliveries: number[]; skipped: boolean };
export type RunningReconciler = { stop(): Promise<void>; passOnce(): Promise<ReconcileResult> };

type Deps = { db: Db; queues: { lifecycle: Queue; sessions: Queue }; queue: JobQueue; log: Logger };

/** Advisory-lock key for the reconciler pass (one holder cluster-wide). */
const RECONCILE_LOCK = 7_242_007;

const RECEIVED_SQL = `SELECT id FROM webhook_deliveries
  WHERE status = 'received' AND received_at < now() - make_interval(secs => $1::float8 / 1000)
  ORDER BY id LIMIT $2`;
// A created session without its started note belongs to its mention job (re-enqueued above):
// running it first could post the note after the reply.
const ACTIVE_SQL = `SELECT id, run_seq FROM sessions
  WHERE status IN ('created', 'running') AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
    AND NOT (status = 'created' AND started_note_id IS NULL)
  ORDER BY id LIMIT $2`;
const UNDELIVERED_SQL = `SELECT id, run_seq FROM sessions s
  WHERE status IN ('finished', 'failed', 'stopped', 'input_required')
    AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
    AND updated_at > now() - interval '1 day'
    AND ((s.started_note_id IS NOT NULL AND s.started_note_deleted_at IS NULL)
      OR s.reply_note_id IS NULL OR (s.callback_context->>'replyRun')::int IS DISTINCT FROM s.run_seq)
  ORDER BY id LIMIT $2`;

/** True when the queue holds no job under `id` (a failed job counts as present: it ran). */
async function missing(queue: Queue, id: string): Promise<boolean> {
  return (await queue.getJob(id)) === undefined;
}

/** One pass; `skipped` when another process holds the pass. */
export async function reconcileOnce(deps: Deps, settings: Pick<ReconcilerSettings, "graceMs" | "batchSize">): Promise<ReconcileResult> {
  const result: ReconcileResult = { mentions: [], runs: [], deliveries: [], skipped: false };
  const limit = settings.batchSize ?? 200;
  const client = await deps.db.connect();
  let released = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [RECONCILE_LOCK]);
    if (!rows[0]?.locked) return { ...result, skipped: true };
    try {
      const received = await client.query<{ id: number }>(RECEIVED_SQL, [settings.graceMs, limit]);
      for (const { id } of received.rows) {
        if (!(await missing(deps.queues.lifecycle, jobIds.mention(id)))) continue;
        await deps.queue.enqueueMention(id);
        result.mentions.push(id);
      }
      const active = await client.query<{ id: number; run_seq: number }>(ACTIVE_SQL, [settings.graceMs, limit]);
      for (const { id, run_seq: run } of active.rows) {
        if (!(await missing(deps.queues.sessions, jobIds.run(id, run)))) continue;
        await deps.queue.enqueueRun(id, run);
        result.runs.push(id);
      }
      const ended = await client.query<{ id: number; run_seq: number }>(UNDELIVERED_SQL, [settings.graceMs, limit]);
      for (const { id, run_seq: run } of ended.rows) {
        if (!(await missing(deps.queues.lifecycle, jobIds.deliver(id, run)))) continue;
        await deps.queue.enqueueDeliver(id, run);
        result.deliveries.push(id);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [RECONCILE_LOCK]);
    }
    return result;
  } catch (err: unknown) {
    // A broken connection must not go back to the pool (its session lock dies with it).
    client.release(err instanceof Error ? err : true);
    released = true;
    throw err;
  } finally {
    if (!released) client.release();
  }
}

/**
 * Runs `reconcileOnce` every `intervalMs` (passes never overlap). A failed pass (Postgres or
 * Redis away) is logged and retried on the next tick. `stop` clears the timer and waits.
 */
export function startReconciler(deps: Deps, settings: ReconcilerSettings): RunningReconciler {
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
