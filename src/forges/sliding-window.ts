import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

/** One limit: at most `limit` admissions in any `ms`-long window. */
export type Window = { ms: number; limit: number };

export type Acquired = { ok: true } | { ok: false; retryInMs: number };

/**
 * A sliding-window log: every admission is remembered with its time, and a new one is admitted
 * only when each window holds fewer than its limit. Exact: no window of that length ever sees
 * more than the limit, and the whole limit is available (not a half-size bucket).
 */
export interface WindowLog {
  /**
   * Takes one admission under `key` in every window at once, or none: when a window is full,
   * says how long until its oldest admission leaves it.
   */
  tryAcquire(key: string, windows: readonly Window[]): Promise<Acquired>;
}

/**
 * One atomic step per attempt, on Redis's own clock (processes' clocks may differ): trim each
 * window, check them all, then record the admission in all of them.
 * KEYS: one sorted set per window. ARGV: window ms and limit per key, then a unique member.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
local member = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i - 1]) + 1000)
end
return 0
`;

/**
 * Admissions are spaced as if each window were a little longer than the forge's: a request
 * reaches the forge some milliseconds after its admission, and that jitter must never put one
 * more than the limit into a window as the forge measures it.
 */
export function withMargin(ms: number): number {
  return ms + Math.max(250, Math.ceil(ms * 0.02));
}

/** Shared by every process using the same Redis and prefix. */
export function createRedisWindowLog(redis: Redis, prefix: string): WindowLog {
  redis.defineCommand("forgebotAcquire", { lua: ACQUIRE });
  const acquire = (redis as unknown as { forgebotAcquire(n: number, ...args: (string | number)[]): Promise<number> }).forgebotAcquire.bind(redis);
  return {
    async tryAcquire(key, windows) {
      const keys = windows.map((w) => `${prefix}:writes:${key}:${w.ms}`);
      const args = windows.flatMap((w) => [withMargin(w.ms), w.limit]);
      const wait = await acquire(keys.length, ...keys, ...args, randomUUID());
      return wait > 0 ? { ok: false, retryInMs: wait } : { ok: true };
    },
  };
}

/** The same log in this process's memory: for a single process, and while Redis is away. */
export function createLocalWindowLog(now: () => number = Date.now): WindowLog {
  const logs = new Map<string, number[]>();
  return {
    async tryAcquire(key, windows) {
      const t = now();
      let wait = 0;
      const entries = windows.map((w) => {
        const id = `${key}:${w.ms}`;
        const ms = withMargin(w.ms);
        const kept = (logs.get(id) ?? []).filter((at) => at > t - ms);
        logs.set(id, kept);
        if (kept.length >= w.limit) wait = Math.max(wait, kept[kept.length - w.limit]! + ms - t);
        return kept;
      });
      if (wait > 0) return { ok: false, retryInMs: wait };
      for (const kept of entries) kept.push(t);
      return { ok: true };
    },
  };
}
