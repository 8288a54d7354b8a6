import type { JobsOptions, Queue } from "bullmq";
import type { JobQueue, JobRef } from "../sessions/ports.js";
import { jobIds } from "./names.js";

const RETENTION: Pick<JobsOptions, "removeOnComplete" | "removeOnFail"> = {
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Forge writes retry with backoff; a started note matters most, so mentions retry longest. */
const LIFECYCLE_OPTIONS: JobsOptions = { attempts: 8, backoff: { type: "exponential", delay: 1000 }, ...RETENTION };
const RUN_OPTIONS: JobsOptions = { attempts: 5, backoff: { type: "exponential", delay: 2000 }, ...RETENTION };

/** The queue and job id a job is stored under. */
function locate(job: JobRef, lifecycle: Queue, sessions: Queue): { queue: Queue; id: string } {
  if (job.kind === "mention") return { queue: lifecycle, id: jobIds.mention(job.deliveryId) };
  if (job.kind === "run") return { queue: sessions, id: jobIds.run(job.sessionId, job.run) };
  return { queue: lifecycle, id: jobIds.deliver(job.sessionId, job.run) };
}

export function createJobQueue(lifecycle: Queue, sessions: Queue): JobQueue {
  const mentionJob = (deliveryId: number) => ({ name: "mention", data: { deliveryId }, opts: { ...LIFECYCLE_OPTIONS, jobId: jobIds.mention(deliveryId), priority: 1 } });
  async function enqueueMention(deliveryId: number): Promise<void> {
    const job = mentionJob(deliveryId);
    await lifecycle.add(job.name, job.data, job.opts);
  }
  return {
    async isQueued(job) {
      const { queue, id } = locate(job, lifecycle, sessions);
      // A failed job counts as present: it ran, and its retries are the reaper's business.
      return (await queue.getJob(id)) !== undefined;
    },
    async enqueueMentions(deliveryIds) {
      if (deliveryIds.length === 0) return;
      // One job (an idle webhook) is a plain add; a group commit's jobs are one bulk add.
      if (deliveryIds.length === 1) return enqueueMention(deliveryIds[0]!);
      await lifecycle.addBulk(deliveryIds.map(mentionJob));
    },
    enqueueMention,
    async enqueueRun(sessionId, run) {
      await sessions.add("run", { sessionId, run }, { ...RUN_OPTIONS, jobId: jobIds.run(sessionId, run) });
    },
    async enqueueDeliver(sessionId, run) {
      await lifecycle.add("deliver", { sessionId, run }, { ...LIFECYCLE_OPTIONS, jobId: jobIds.deliver(sessionId, run), priority: 2 });
    },
  };
}
