import { setMaxListeners } from "node:events";
import { DelayedError, UnrecoverableError, type Job, type Worker } from "bullmq";
import { deliverSession } from "../lifecycle/reply.js";
import { handleMention } from "../lifecycle/intake.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import { runSession } from "../lifecycle/run.js";
import { jobErrorKind } from "../sessions/errors.js";
import type { QueueFactory } from "./backend.js";
import { LIFECYCLE_QUEUE, SESSIONS_QUEUE, type DeliverJob, type MentionJob, type RunJob } from "./names.js";

export type WorkerSettings = {
  lifecycleConcurrency: number;
  sessionConcurrency: number;
  lockMs: number;
  stalledIntervalMs: number;
};

export type RunningWorkers = { workers: Worker[]; close(): Promise<void> };

/** Rethrows for BullMQ: a permanent failure ends the job now, anything else spends an attempt. */
function rethrow(err: unknown): never {
  if (jobErrorKind(err) === "permanent") throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
  throw err;
}

/** Another worker holds the session's note lease: try again shortly, without spending an attempt. */
const BUSY_RETRY_MS = 300;

/** What BullMQ's worker emits when a job's lock could not be extended. */
const LOCK_RENEWAL_FAILED = /^could not renew lock for job (.+)$/;

/**
 * Jobs this process moved to delayed within the last lock period. BullMQ's lock renewal may run
 * between a job's `moveToDelayed` (which gives up its lock) and the processor's DelayedError
 * (which stops the renewal): the renewal finds no lock and the worker reports it as an error,
 * though the job is safely delayed. Such a report names a job remembered here.
 */
function delayedJobs(windowMs: number): { add(id: string): void; has(id: string): boolean } {
  const at = new Map<string, number>();
  const expired = (t: number) => Date.now() - t > windowMs;
  return {
    add(id) {
      for (const [key, t] of at) if (expired(t)) at.delete(key);
      at.set(id, Date.now());
    },
    has(id) {
      const t = at.get(id);
      return t !== undefined && !expired(t);
    },
  };
}

/**
 * Starts both workers. Closing aborts running flows first (their jobs fail and are retried
 * elsewhere from the last checkpoint), then waits for the short lifecycle jobs to finish.
 */
export function startWorkers(factory: QueueFactory, deps: LifecycleDeps, settings: WorkerSettings): RunningWorkers {
  const shutdown = new AbortController();
  // Every running flow listens on this one signal (and removes its listener when it ends).
  setMaxListeners(0, shutdown.signal);
  // Raised from BullMQ's default of 1 so a second crash resumes the session instead of failing it.
  const tuning = { lockDuration: settings.lockMs, stalledInterval: settings.stalledIntervalMs, maxStalledCount: 10 };
  const delayed = delayedJobs(settings.lockMs);
  const lifecycle = factory.createWorker(
    LIFECYCLE_QUEUE,
    async (job: Job, token?: string) => {
      try {
        if (job.name === "mention") return await handleMention(deps, (job.data as MentionJob).deliveryId);
        if (job.name === "deliver") {
          const { sessionId, run } = job.data as DeliverJob;
          return await deliverSession(deps, sessionId, run);
        }
        throw new UnrecoverableError(`unknown lifecycle job ${job.name}`);
      } catch (err: unknown) {
        if (jobErrorKind(err) === "busy") {
          if (job.id) delayed.add(job.id);
          await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
          throw new DelayedError();
        }
        const ids = job.name === "deliver" ? { sessionId: (job.data as DeliverJob).sessionId } : {};
        deps.log.warn({ err, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1, ...ids }, "lifecycle job failed");
        deps.metrics.trackedError(job.name === "mention" ? "mention" : "deliver");
        rethrow(err);
      }
    },
    { ...tuning, concurrency: settings.lifecycleConcurrency },
  );
  const sessions = factory.createWorker(
    SESSIONS_QUEUE,
    async (job: Job) => {
      const { sessionId, run } = job.data as RunJob;
      try {
        return await runSession(deps, sessionId, run, shutdown.signal);
      } catch (err: unknown) {
        deps.log.warn({ err, sessionId, jobId: job.id }, "session run interrupted");
        // A shutdown hands the run to another worker: expected, not an error.
        if (jobErrorKind(err) !== "interrupted") deps.metrics.trackedError("run");
        rethrow(err);
      }
    },
    { ...tuning, concurrency: settings.sessionConcurrency },
  );
  for (const worker of [lifecycle, sessions]) {
    worker.on("error", (err) => {
      // A renewal that raced the job's own move to delayed lost nothing; a lock lost otherwise
      // (a job stalled, perhaps run elsewhere) stays an error.
      const jobId = LOCK_RENEWAL_FAILED.exec(err.message)?.[1];
      if (jobId !== undefined && delayed.has(jobId)) deps.log.debug({ err, queue: worker.name, jobId }, "lock renewal raced the job's move to delayed");
      else deps.log.error({ err, queue: worker.name }, "queue worker error");
    });
  }
  return {
    workers: [lifecycle, sessions],
    async close() {
      shutdown.abort();
      await Promise.all([sessions.close(), lifecycle.close()]);
    },
  };
}
