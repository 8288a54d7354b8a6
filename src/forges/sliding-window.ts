import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

/** One limit: at most `limit` admissions in any `ms`-long window. */
export type Window = { ms: number; limit: number };

/** How many of the admissions asked for were granted; when none, how long until one may be. */
export type Acquired = { admitted: number; retryInMs: number };

/**
 * A sliding-window log: every admission is remembered with its time, and new ones are admitted
 * only while each window holds fewer than its limit. Exact: no window of that length ever sees
 * more than the limit, and the whole limit is available (not a half-size bucket). A pause (a
 * forge's Retry-After) stops every admission of the key until it runs out.
 */
export interface WindowLog {
  /**
   * Takes up to `count` admissions under `key` in every window at once (as many as every window
   * has room for), unless the key is paused. When none is granted, says how long until the
   * pause ends or the oldest admission leaves its window.
   */
  tryAcquire(key: string, windows: readonly Window[], count: number): Promise<Acquired>;
  /** Pauses every admission of `key` for `ms`. */
  pause(key: string, ms: number): Promise<void>;
}

/**
 * Admissions are spaced as if each window were a little longer than the forge's: a request
 * reaches the forge some milliseconds after its admission, and that jitter must never put one
 * more than the limit into a window as the forge measures it.
 */
export function withMargin(ms: number): number {
  return ms + Math.max(250, Math.ceil(ms * 0.02));
}

/**
 * One round trip per attempt, on Redis's own clock (processes' clocks may differ): the pause,
 * then every window trimmed and counted, then the admissions recorded in all of them.
 * KEYS: the pause key, then one sorted set per window. ARGV: count, window ms and limit per
 * window, then a unique member prefix. Returns { admitted, wait ms }.
 */
const ACQUIRE = `
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[1])
local wait = 0
for i = 2, #KEYS do
  local window = tonumber(ARGV[2 * i - 2])
  local limit = tonumber(ARGV[2 * i - 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
    want = 0
  elseif limit - count < want then
    want = limit - count
  end
end
if want <= 0 then return {0, math.max(wait, 1)} end
local prefix = ARGV[#ARGV]
for i = 2, #KEYS do
  local window = tonumber(ARGV[2 * i - 2])
  for n = 1, want do redis.call('ZADD', KEYS[i], now, prefix .. ':' .. n) end
  redis.call('PEXPIRE', KEYS[i], window + 1000)
end
return {want, 0}
`;

/** Shared by every process using the same Redis and prefix. */
export function createRedisWindowLog(redis: Redis, prefix: string): WindowLog {
  redis.defineCommand("forgebotAcquire", { lua: ACQUIRE });
  const acquire = (redis as unknown as { forgebotAcquire(n: number, ...args: (string | number)[]): Promise<[number, number]> }).forgebotAcquire.bind(redis);
  const pauseKey = (key: string) => `${prefix}:writes:pause:${key}`;
  return {
    async tryAcquire(key, windows, count) {
      const keys = [pauseKey(key), ...windows.map((w) => `${prefix}:writes:${key}:${w.ms}`)];
      const args = [count, ...windows.flatMap((w) => [withMargin(w.ms), w.limit]), randomUUID()];
      const [admitted, wait] = await acquire(keys.length, ...keys, ...args);
      return { admitted, retryInMs: wait };
    },
    async pause(key, ms) {
      // A pause only ever grows: a shorter Retry-After never cuts a longer one short.
      const ttl = Math.max(1, Math.ceil(ms));
      const created = await redis.set(pauseKey(key), "1", "PX", ttl, "NX");
      if (created === null) await redis.pexpire(pauseKey(key), ttl, "GT");
    },
  };
}

/** The same log in this process's memory: for a single process, and while Redis is away. */
export function createLocalWindowLog(now: () => number = Date.now): WindowLog {
  const logs = new Map<string, number[]>();
  const pauses = new Map<string, number>();
  return {
    async tryAcquire(key, windows, count) {
      const t = now();
      const pausedFor = (pauses.get(key) ?? 0) - t;
      if (pausedFor > 0) return { admitted: 0, retryInMs: pausedFor };
      let wait = 0;
      let want = count;
      const entries = windows.map((w) => {
        const id = `${key}:${w.ms}`;
        const ms = withMargin(w.ms);
        const kept = (logs.get(id) ?? []).filter((at) => at > t - ms);
        logs.set(id, kept);
        if (kept.length >= w.limit) {
          wait = Math.max(wait, kept[kept.length - w.limit]! + ms - t);
          want = 0;
        } else {
          want = Math.min(want, w.limit - kept.length);
        }
        return kept;
      });
      if (want <= 0) return { admitted: 0, retryInMs: Math.max(wait, 1) };
      for (const kept of entries) for (let n = 0; n < want; n++) kept.push(t);
      return { admitted: want, retryInMs: 0 };
    },
    async pause(key, ms) {
      pauses.set(key, Math.max(pauses.get(key) ?? 0, now() + ms));
    },
  };
}
