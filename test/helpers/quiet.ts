import type { Queue } from "bullmq";
import { reconcileOnce, type ReconcileResult } from "../../src/lifecycle/reconciler.js";
import { createLogger } from "../../src/logging/logger.js";
import { createJobQueue } from "../../src/queue/producer.js";
import { createReconcilerStore } from "../../src/storage/reconciler-store.js";
import type { Db } from "../../src/storage/pool.js";
import type { TestBot } from "./bot.js";

/**
 * What "nothing more will happen" is checked against: a bot's two BullMQ queues (or queues on
 * the same prefix and backend, for workers in other processes) and the bot's database.
 */
export type QuietTarget = { queues: { lifecycle: Queue; sessions: Queue }; db: Db };

export type QuietOptions = {
  /** Gives up (and fails the test) after this long; retries with backoff count as work. */
  timeoutMs?: number;
};

/** Job states that mean work is still to come. Completed and failed jobs are done. */
const PENDING = ["waiting", "active", "delayed", "prioritized", "waiting-children"] as const;
const POLL_MS = 50;
/** A pass that keeps finding work is a bug the caller should see, not a reason to wait forever. */
const MAX_PASSES = 3;

const log = createLogger("silent");

function targetOf(bot: TestBot | QuietTarget): QuietTarget {
  return "bot" in bot ? { queues: bot.bot.queues, db: bot.bot.db } : bot;
}

async function pendingJobs(queues: QuietTarget["queues"]): Promise<number> {
  let total = 0;
  for (const queue of [queues.lifecycle, queues.sessions]) {
    const counts = await queue.getJobCounts(...PENDING);
    for (const state of PENDING) total += counts[state] ?? 0;
  }
  return total;
}

/** Resolves once both queues hold no pending job on two polls in a row. */
async function drained(queues: QuietTarget["queues"], deadline: number): Promise<void> {
  let idlePolls = 0;
  let last = -1;
  while (idlePolls < 2) {
    if (Date.now() > deadline) throw new Error(`queues not drained: ${last} job(s) still waiting, active or delayed`);
    last = await pendingJobs(queues);
    idlePolls = last === 0 ? idlePolls + 1 : 0;
    if (idlePolls < 2) await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** One reconciler pass with no grace period; waits while another process holds the pass lock. */
async function reconcileNow(target: QuietTarget, deadline: number): Promise<ReconcileResult> {
  const deps = { store: createReconcilerStore(target.db), queue: createJobQueue(target.queues.lifecycle, target.queues.sessions), log };
  for (;;) {
    const result = await reconcileOnce(deps, { graceMs: 0 });
    if (!result.skipped) return result;
    if (Date.now() > deadline) throw new Error("reconciler pass lock never came free");
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Waits until the bot has nothing left to do: both queues drained, then a reconciler pass
 * (everything Postgres says is owed but no job carries is enqueued again, with no grace
 * period), then drained again. Only after this does "nothing more happened" mean anything.
 * The passes' results are returned, so a test may also check that nothing was owed.
 */
export async function waitForQuiet(bot: TestBot | QuietTarget, options: QuietOptions = {}): Promise<ReconcileResult[]> {
  const target = targetOf(bot);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const passes: ReconcileResult[] = [];
  await drained(target.queues, deadline);
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const result = await reconcileNow(target, deadline);
    passes.push(result);
    if (!result.mentions.length && !result.runs.length && !result.deliveries.length) return passes;
    await drained(target.queues, deadline);
  }
  throw new Error(`the reconciler still found owed work after ${MAX_PASSES} passes: ${JSON.stringify(passes)}`);
}
