import { Redis } from "ioredis";
import type { Logger } from "pino";
import { forgeWrites, forgeWriteWait, rateLimitResponses } from "../metrics/writes.js";
import { ForgeApiError, type Forge, type ForgeClient, type ForgeName, type PublishSteps, type ThreadRef } from "../sessions/forge-port.js";
import { markerKind } from "../sessions/notes.js";
import { createLocalWindowLog, createRedisWindowLog, type Window, type WindowLog } from "./sliding-window.js";

/** `commit`: a publish's blobs, tree, commit and branch writes; `change_request`: its draft pull/merge request. */
export type WriteKind = "started_note" | "reply" | "notice" | "review" | "delete" | "commit" | "change_request";

/** Where a write is counted: a forge, and the scope its limits apply to (an installation, a bot user). */
export type WriteTarget = { forge: ForgeName; scope: string };

export interface WriteBudget {
  /**
   * Runs one forge write when the scope's budget allows, highest priority first. A rate-limited
   * post waits as the forge asks and is tried again; a rate-limited delete fails at once (the
   * caller records it and moves on: a late delete is cosmetic, a late reply is not).
   */
  run<T>(target: WriteTarget, kind: WriteKind, fn: () => Promise<T>): Promise<T>;
}

/** Per-forge limits per scope: content-creating writes (note posts …) and, apart, note deletes. */
export type ForgeLimits = { perMinute: number; perHour: number | null; deletesPerMinute: number };

/** Lower runs first: a late started note is what users see; a late delete is cosmetic. */
const PRIORITY: Record<WriteKind, number> = { started_note: 1, notice: 2, reply: 3, review: 4, commit: 5, change_request: 5, delete: 6 };
/** Kinds that may use the whole window (deletes have a lane of their own); the rest leave a reserve for them (see RESERVE). */
const URGENT: ReadonlySet<WriteKind> = new Set(["started_note", "notice", "delete"]);
/**
 * The share of each window only urgent writes may use: a flood of replies never leaves a new
 * mention's started note waiting for the window to slide.
 */
const RESERVE = 0.1;
const MAX_RATE_LIMIT_RETRIES = 5;
/** Longest sleep between two admission attempts: another process may free a slot sooner. */
const MAX_POLL_MS = 1000;

function retryAfterMs(err: unknown): number | null {
  if (!(err instanceof ForgeApiError)) return null;
  if (err.status === 429 || (err.status === 403 && err.retryAfterMs !== undefined)) return Math.max(1000, err.retryAfterMs ?? 60_000);
  return null;
}

export type WriteBudgetOptions = {
  limits: Record<ForgeName, ForgeLimits> & { windowMs?: number };
  /** With Redis, every process shares each scope's windows and pauses. */
  redisUrl?: string | null;
  /** Namespaces the Redis keys. */
  prefix: string;
  log: Logger;
};

export type ClosableWriteBudget = WriteBudget & { close(): Promise<void> };

type Waiter = { priority: number; seq: number; urgent: boolean; admit(): void; refuse(err: Error): void };

/** The writes of one scope and lane waiting for admission, highest priority (then oldest) first. */
class Lane {
  readonly waiting: Waiter[] = [];
  pumping = false;
  /** Ends the pump's current sleep: a better waiter arrived. */
  wake: () => void = () => undefined;
  constructor(
    readonly key: string,
    /** The windows urgent writes see; the others see each limit less its reserve. */
    readonly windows: readonly Window[],
  ) {}
  windowsFor(waiter: Waiter): readonly Window[] {
    if (waiter.urgent) return this.windows;
    return this.windows.map((w) => ({ ms: w.ms, limit: Math.max(1, w.limit - Math.max(w.limit > 2 ? 1 : 0, Math.floor(w.limit * RESERVE))) }));
  }
  best(): Waiter | undefined {
    return this.ordered()[0];
  }
  /** Best first: by priority, then oldest. */
  ordered(): Waiter[] {
    return [...this.waiting].sort((a, b) => a.priority - b.priority || a.seq - b.seq);
  }
  remove(waiter: Waiter): void {
    this.waiting.splice(this.waiting.indexOf(waiter), 1);
  }
}

/**
 * The forge write budget: per scope, content-creating writes share one lane limited to the
 * forge's documented limit in every sliding minute (and hour: GitHub's 500), deletes another.
 * Admission is a sliding-window log (forges/sliding-window.ts) shared through Redis when it is
 * configured, so the whole documented limit is usable and never exceeded in any window. Within
 * a process, waiting writes go in priority order. A 429 or secondary-limit 403 pauses the lane
 * for its Retry-After (shared through Redis) and the post is retried.
 */
export function createWriteBudget(options: WriteBudgetOptions): ClosableWriteBudget {
  const { log } = options;
  const minuteMs = options.limits.windowMs ?? 60_000;
  // Commands wait for the first connection (and fail after one reconnect attempt): a write
  // counted before Redis is ready is still counted for every process.
  const redis = options.redisUrl ? new Redis(options.redisUrl, { maxRetriesPerRequest: 1 }) : null;
  let redisHealthy = true;
  redis?.on("error", (err: unknown) => {
    if (redisHealthy) log.warn({ err }, "write budget: Redis unreachable; counting writes in this process until it is back");
    redisHealthy = false;
  });
  redis?.on("ready", () => {
    redisHealthy = true;
  });
  const shared: WindowLog | null = redis ? createRedisWindowLog(redis, options.prefix) : null;
  const local = createLocalWindowLog();
  /** Redis when it answers, this process's own log otherwise: writes never wait on a dead Redis. */
  async function tryAcquire(key: string, windows: readonly Window[], count: number) {
    if (shared && redisHealthy) {
      try {
        return await shared.tryAcquire(key, windows, count);
      } catch (err: unknown) {
        log.warn({ err, key }, "write budget: Redis did not answer; counting this write locally");
      }
    }
    return local.tryAcquire(key, windows, count);
  }

  const lanes = new Map<string, Lane>();
  let seq = 0;
  let closed = false;
  function laneFor(forge: ForgeName, scope: string, kind: WriteKind): Lane {
    const deletes = kind === "delete";
    const key = `${scope}-${deletes ? "deletes" : "notes"}`;
    let lane = lanes.get(key);
    if (!lane) {
      const limits = options.limits[forge];
      const windows: Window[] = deletes
        ? [{ ms: minuteMs, limit: limits.deletesPerMinute }]
        : [{ ms: minuteMs, limit: limits.perMinute }, ...(limits.perHour ? [{ ms: 60 * minuteMs, limit: limits.perHour }] : [])];
      lane = new Lane(key, windows);
      lanes.set(key, lane);
    }
    return lane;
  }

  /** Pauses the lane here and, through Redis, in every process. */
  async function pause(lane: string, ms: number): Promise<void> {
    await local.pause(lane, ms);
    await shared?.pause(lane, ms).catch((err: unknown) => {
      log.warn({ err, lane }, "write budget pause could not be shared through Redis; pausing this process only");
    });
  }

  /** Most writes one admission round trip takes for a lane. */
  const BATCH = 32;

  /** Sleeps `ms`, or until a better waiter arrives in the lane. */
  function sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      lane.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Admits the lane's waiters best first, as its windows allow: the best waiters of the head's
   * kind of share (urgent or not) in one round trip, as many as the windows have room for.
   */
  async function pump(lane: Lane): Promise<void> {
    if (lane.pumping) return;
    lane.pumping = true;
    try {
      while (lane.waiting.length > 0 && !closed) {
        const ordered = lane.ordered();
        const head = ordered[0]!;
        const batch = ordered.filter((w) => w.urgent === head.urgent).slice(0, BATCH);
        const { admitted, retryInMs } = await tryAcquire(lane.key, lane.windowsFor(head), batch.length);
        if (admitted === 0) {
          await sleep(lane, Math.max(1, Math.min(retryInMs, MAX_POLL_MS)));
          continue;
        }
        for (const waiter of batch.slice(0, admitted)) {
          lane.remove(waiter);
          waiter.admit();
        }
      }
    } finally {
      lane.pumping = false;
    }
  }

  function admission(lane: Lane, kind: WriteKind): Promise<void> {
    if (closed) return Promise.reject(new Error("the write budget is closed"));
    return new Promise<void>((admit, refuse) => {
      const waiter = { priority: PRIORITY[kind], seq: seq++, urgent: URGENT.has(kind), admit, refuse };
      const best = lane.best();
      lane.waiting.push(waiter);
      if (best && waiter.priority < best.priority) lane.wake();
      void pump(lane).catch((err: unknown) => log.error({ err, lane: lane.key }, "write budget admission failed"));
    });
  }

  return {
    async run(target, kind, fn) {
      const { forge, scope } = target;
      const lane = laneFor(forge, scope, kind);
      const queuedAt = Date.now();
      for (let attempt = 0; ; attempt++) {
        await admission(lane, kind);
        try {
          const result = await fn();
          forgeWrites.inc({ forge, kind, outcome: "ok" });
          forgeWriteWait.observe({ forge, kind }, (Date.now() - queuedAt) / 1000);
          return result;
        } catch (err: unknown) {
          const wait = retryAfterMs(err);
          if (wait !== null) {
            rateLimitResponses.inc({ forge });
            log.warn({ forge, scope, kind, waitMs: wait }, "forge rate limit hit; pausing this scope's writes");
            await pause(lane.key, wait);
          }
          if (wait === null || kind === "delete" || attempt >= MAX_RATE_LIMIT_RETRIES) {
            forgeWrites.inc({ forge, kind, outcome: wait === null ? "error" : "rate_limited" });
            throw err;
          }
        }
      }
    },
    async close() {
      closed = true;
      // Nothing may be left waiting for an admission that will never come.
      for (const lane of lanes.values()) for (const waiter of lane.waiting.splice(0)) waiter.refuse(new Error("the write budget is closed"));
      redis?.disconnect();
    },
  };
}

/** Which write a note is, read from the hidden marker every forgebot note carries. */
export function noteKind(body: string): WriteKind {
  const kind = markerKind(body);
  return kind === "started" ? "started_note" : kind === "reply" ? "reply" : "notice";
}

/**
 * The same forge, with every note post and delete, every review, and every write request of a
 * publish, going through the write budget under `scopeOf`. A review is one write: one request on
 * GitHub; on GitLab its drafts notify nobody until the one publish that makes them a review.
 */
export function withWriteBudget(forge: Forge, budget: WriteBudget, scopeOf: (thread: ThreadRef) => string): Forge {
  return {
    name: forge.name,
    profile: forge.profile,
    async clientFor(thread) {
      const client = await forge.clientFor(thread);
      const target = (t: ThreadRef) => ({ forge: forge.name, scope: scopeOf(t) });
      const budgeted: ForgeClient = {
        ...client,
        postNote: (t, body) => budget.run(target(t), noteKind(body), () => client.postNote(t, body)),
        deleteNote: (t, note) => budget.run(target(t), "delete", () => client.deleteNote(t, note)),
      };
      const postReview = client.postReview?.bind(client);
      if (postReview) budgeted.postReview = (t, draft) => budget.run(target(t), "review", () => postReview(t, draft));
      const publish = client.publish;
      if (publish) {
        // Each forge write request of a publish step is one write of the budget: content-creating, not urgent.
        const gated = (t: ThreadRef, kind: WriteKind, steps: PublishSteps): PublishSteps => ({
          run: (step, actions) => steps.run(step, actions),
          write: (request) => steps.write(() => budget.run(target(t), kind, request)),
        });
        budgeted.publish = {
          ...publish,
          pushCommit: (t, input, steps) => publish.pushCommit(t, input, gated(t, "commit", steps)),
          openChangeRequest: (t, input, steps) => publish.openChangeRequest(t, input, gated(t, "change_request", steps)),
        };
      }
      return budgeted;
    },
  };
}
