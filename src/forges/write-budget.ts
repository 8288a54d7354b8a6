import Bottleneck from "bottleneck";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { forgeWrites, forgeWriteWait, rateLimitResponses } from "../metrics/writes.js";
import { ForgeApiError, type Forge, type ForgeClient, type ForgeName, type ThreadRef } from "../sessions/forge-port.js";
import { markerKind } from "../sessions/notes.js";

export type WriteKind = "started_note" | "reply" | "notice" | "review" | "delete";

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

/** Per-forge limits per scope: note posts (content-creating) and, apart, note deletes. */
export type ForgeLimits = { perMinute: number; perHour: number | null; deletesPerMinute: number };

/** Lower runs first: a late started note is what users see; a late delete is cosmetic. */
const PRIORITY: Record<WriteKind, number> = { started_note: 1, notice: 2, reply: 3, review: 4, delete: 6 };
const MAX_RATE_LIMIT_RETRIES = 5;

/**
 * A token bucket whose capacity is half the budget and whose refill is the other half per
 * window: no window of that length ever sees more than the budget (GitHub's limits are sliding),
 * and a quiet installation can still burst half of it at once.
 */
function bucket(perWindow: number, windowMs: number): Bottleneck.ConstructorOptions {
  const burst = Math.max(1, Math.floor(perWindow / 2));
  const refill = Math.max(1, perWindow - burst);
  return { reservoir: burst, reservoirIncreaseAmount: 1, reservoirIncreaseInterval: Math.ceil(windowMs / refill), reservoirIncreaseMaximum: burst };
}

/** Bottleneck's state for a limiter is gone from Redis (a restart without persistence). */
function lostState(err: unknown): boolean {
  return err instanceof Error && err.message.includes("SETTINGS_KEY_NOT_FOUND");
}

/** A write dropped because its limiter was stopped after losing its state. */
function stoppedLimiter(err: unknown): boolean {
  return err instanceof Bottleneck.BottleneckError && /stopped/i.test(err.message);
}

function retryAfterMs(err: unknown): number | null {
  if (!(err instanceof ForgeApiError)) return null;
  if (err.status === 429 || (err.status === 403 && err.retryAfterMs !== undefined)) return Math.max(1000, err.retryAfterMs ?? 60_000);
  return null;
}

export type WriteBudgetOptions = {
  limits: Record<ForgeName, ForgeLimits> & { windowMs?: number };
  /** With Redis, every process shares each scope's budget and pauses. */
  redisUrl?: string | null;
  /** Namespaces the Redis keys (the queue prefix). */
  prefix: string;
  log: Logger;
};

export type ClosableWriteBudget = WriteBudget & { close(): Promise<void> };

/**
 * Schedules every forge write through Bottleneck limiters keyed by scope, in priority order.
 * A 429 or secondary-rate-limit answer pauses the whole scope for its Retry-After and the write
 * is retried, so one throttled request slows the installation instead of failing the session.
 */
export function createWriteBudget(options: WriteBudgetOptions): ClosableWriteBudget {
  const redis = options.redisUrl ? new Redis(options.redisUrl, { maxRetriesPerRequest: 3 }) : null;
  redis?.on("error", (err: unknown) => options.log.warn({ err }, "write budget redis error"));
  const connection = redis ? new Bottleneck.IORedisConnection({ client: redis }) : null;
  connection?.on("error", (err: unknown) => options.log.warn({ err }, "write budget limiter error"));
  const shared = (id: string): Bottleneck.ConstructorOptions =>
    connection ? { id: `${options.prefix}-${id}`, datastore: "ioredis", connection, clearDatastore: false, timeout: 3_600_000 } : {};

  const minuteMs = options.limits.windowMs ?? 60_000;
  const groups = new Map<string, Bottleneck.Group>();
  /** Limiters whose Redis state was lost; they are stopped and replaced. */
  const lost = new WeakSet<Bottleneck>();
  function group(name: string, settings: Bottleneck.ConstructorOptions): Bottleneck.Group {
    let found = groups.get(name);
    if (!found) {
      found = new Bottleneck.Group({ ...settings, ...shared(`writes-${name}`) });
      // A limiter reports datastore failures (Redis away or restarted empty) as 'error' events,
      // and a write waiting in it would then wait forever: a limiter whose state is lost is
      // stopped, its waiting writes fail with a stop error, and each one resets the scope and
      // retries on a fresh limiter.
      found.on("created", (created: Bottleneck) => {
        created.on("error", (err: unknown) => {
          options.log.warn({ err, limiter: name }, "write budget limiter error");
          if (!lostState(err) || lost.has(created)) return;
          lost.add(created);
          created.stop({ dropWaitingJobs: true }).catch((stopErr: unknown) => options.log.warn({ err: stopErr, limiter: name }, "write budget limiter could not be stopped"));
        });
      });
      groups.set(name, found);
    }
    return found;
  }
  /**
   * Note posts of a scope share one queue, so priorities order them (started notes first); the
   * hourly budget (GitHub) is chained behind it. Deletes create no content and have their own
   * budget, so a backlog of cosmetic deletes never holds a started note back.
   */
  function limiter(forge: ForgeName, scope: string, kind: WriteKind): Bottleneck {
    const limits = options.limits[forge];
    if (kind === "delete") return group(`${forge}-deletes`, bucket(limits.deletesPerMinute, minuteMs)).key(scope);
    const perMinute = group(`${forge}-minute`, bucket(limits.perMinute, minuteMs)).key(scope);
    if (limits.perHour) perMinute.chain(group(`${forge}-hour`, bucket(limits.perHour, 60 * minuteMs)).key(scope));
    return perMinute;
  }

  /**
   * Bottleneck keeps each limiter's settings in Redis; a Redis restart without persistence loses
   * them and every call then fails with SETTINGS_KEY_NOT_FOUND. Dropping the scope's limiters
   * makes the next call create them afresh (found by test/faults/redis-restart.test.ts).
   */
  async function resetScope(forge: ForgeName, scope: string, onlyLost: boolean): Promise<void> {
    for (const name of [`${forge}-deletes`, `${forge}-minute`, `${forge}-hour`]) {
      const group = groups.get(name);
      const current = group?.limiters().find((l) => l.key === scope)?.limiter;
      // A write dropped by a stopped limiter resets only that limiter, never its fresh successor.
      if (!group || !current || (onlyLost && !lost.has(current))) continue;
      await group.deleteKey(scope).catch((err: unknown) => options.log.warn({ err, scope }, "write budget limiter reset failed"));
    }
  }

  const localPauses = new Map<string, number>();
  async function pausedUntil(scope: string): Promise<number> {
    const local = localPauses.get(scope) ?? 0;
    if (!redis) return local;
    const remote = Number(
      (await redis.get(`${options.prefix}:writes:pause:${scope}`).catch((err: unknown) => {
        // Redis away: this process's own pauses still hold; the write goes on.
        options.log.warn({ err, scope }, "write budget pause could not be read from Redis");
        return null;
      })) ?? 0,
    );
    return Math.max(local, remote);
  }
  async function pause(scope: string, ms: number): Promise<void> {
    const until = Date.now() + ms;
    localPauses.set(scope, Math.max(until, localPauses.get(scope) ?? 0));
    await redis?.set(`${options.prefix}:writes:pause:${scope}`, String(until), "PX", ms).catch((err: unknown) => {
      options.log.warn({ err, scope }, "write budget pause could not be shared through Redis; pausing this process only");
    });
  }

  async function scheduleOnce<T>(forge: ForgeName, scope: string, lane: string, kind: WriteKind, fn: () => Promise<T>): Promise<T> {
    return limiter(forge, scope, kind).schedule({ priority: PRIORITY[kind], expiration: 120_000 }, async () => {
      const wait = (await pausedUntil(lane)) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return fn();
    });
  }

  return {
    async run(target, kind, fn) {
      const { forge, scope } = target;
      // Posts and deletes pause apart: a delete's rate limit must not hold a reply back.
      const lane = `${scope}-${kind === "delete" ? "deletes" : "notes"}`;
      const queuedAt = Date.now();
      for (let attempt = 0; ; attempt++) {
        try {
          const result = await scheduleOnce(forge, scope, lane, kind, fn);
          forgeWrites.inc({ forge, kind, outcome: "ok" });
          forgeWriteWait.observe({ forge, kind }, (Date.now() - queuedAt) / 1000);
          return result;
        } catch (err: unknown) {
          if ((lostState(err) || stoppedLimiter(err)) && attempt < MAX_RATE_LIMIT_RETRIES) {
            options.log.warn({ forge, scope }, "write budget state lost in Redis; recreating the limiter");
            await resetScope(forge, scope, stoppedLimiter(err));
            continue;
          }
          const wait = retryAfterMs(err);
          if (wait !== null) {
            rateLimitResponses.inc({ forge });
            options.log.warn({ forge, scope, kind, waitMs: wait }, "forge rate limit hit; pausing this scope's writes");
            await pause(lane, wait);
          }
          if (wait === null || kind === "delete" || attempt >= MAX_RATE_LIMIT_RETRIES) {
            forgeWrites.inc({ forge, kind, outcome: wait === null ? "error" : "rate_limited" });
            throw err;
          }
        }
      }
    },
    async close() {
      // Closing is best effort (Redis may be gone already); each failure is logged, none stops the rest.
      const closing = (what: string) => (err: unknown) => options.log.debug({ err, what }, "write budget close step failed");
      const limiters = [...groups.values()].flatMap((g) => g.limiters().map((l) => l.limiter));
      await Promise.all(limiters.map((l) => Promise.resolve(l.disconnect(false)).catch(closing("limiter"))));
      await Promise.all([...groups.values()].map((g) => Promise.resolve(g.disconnect(false)).catch(closing("group"))));
      // The connection duplicated our client for pub/sub; closing it closes both.
      await connection?.disconnect(false).catch(closing("connection"));
      if (redis) redis.disconnect();
    },
  };
}

/** Which write a note is, read from the hidden marker every forgebot note carries. */
export function noteKind(body: string): WriteKind {
  const kind = markerKind(body);
  return kind === "started" ? "started_note" : kind === "reply" ? "reply" : "notice";
}

/**
 * The same forge, with every note post and delete, and every review, going through the write
 * budget under `scopeOf`. A review is one write: one request on GitHub; on GitLab its drafts
 * notify nobody until the one publish that makes them a review.
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
      return budgeted;
    },
  };
}
