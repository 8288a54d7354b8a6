import { Counter, Gauge } from "prom-client";
import { SESSION_STATUSES, TERMINAL_STATUSES } from "../sessions/state-machine.js";
import { registry } from "./registry.js";

/** One row per non-terminal status: how many sessions and how stale the oldest heartbeat is. */
export type ActiveSessionStats = { status: string; count: number; oldestHeartbeatAgeSeconds: number }[];

/** The slice of a BullMQ Queue the queue gauge reads. */
export type CountableQueue = { getJobCounts(...types: string[]): Promise<Record<string, number>> };

/**
 * What the scrape-time gauges read. Bound by the composition root; a process serving no
 * sources (tests, `forgebot migrate`) exports the gauges without values.
 */
export type ScrapeSources = {
  activeSessions?(): Promise<ActiveSessionStats>;
  queues?: Record<string, CountableQueue>;
};

const SOURCE_TIMEOUT_MS = 2000;
const ACTIVE_STATUSES = SESSION_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));
/** Prioritized and waiting-children jobs wait too (all forgebot jobs carry a priority). */
const QUEUE_STATES: Record<string, readonly string[]> = {
  waiting: ["waiting", "prioritized", "waiting-children"],
  active: ["active"],
  delayed: ["delayed"],
  failed: ["failed"],
};

const bound: ScrapeSources[] = [];

/** Binds the sources the gauges read at scrape time; returns the unbind function. Last bound wins. */
export function bindScrapeSources(sources: ScrapeSources): () => void {
  bound.push(sources);
  return () => {
    const at = bound.indexOf(sources);
    if (at >= 0) bound.splice(at, 1);
  };
}

export const scrapeErrors = new Counter({
  name: "forgebot_metrics_scrape_errors_total",
  help: "Scrape-time reads that failed or timed out, by source (sessions, queue).",
  labelNames: ["source"] as const,
  registers: [registry],
});

async function withTimeout<T>(read: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scrape source timed out after ${SOURCE_TIMEOUT_MS} ms`)), SOURCE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([read(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Both session gauges come from one query: collectors of one scrape share the read in flight. */
let sessionRead: Promise<ActiveSessionStats | null> | null = null;

function readActiveSessions(): Promise<ActiveSessionStats | null> {
  const source = bound.at(-1)?.activeSessions;
  if (!source) return Promise.resolve(null);
  sessionRead ??= withTimeout(source)
    .catch(() => {
      scrapeErrors.inc({ source: "sessions" });
      return null;
    })
    .finally(() => {
      sessionRead = null;
    });
  return sessionRead;
}

export const activeSessions = new Gauge({
  name: "forgebot_sessions",
  help: "Sessions not yet ended, by status; read from Postgres at scrape time.",
  labelNames: ["status"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const stats = await readActiveSessions();
    if (!stats) return;
    for (const status of ACTIVE_STATUSES) this.set({ status }, stats.find((s) => s.status === status)?.count ?? 0);
  },
});

export const oldestHeartbeatAge = new Gauge({
  name: "forgebot_session_heartbeat_age_seconds",
  help: "Age of the oldest heartbeat among sessions in each non-terminal status (0 when none); the reaper fails running sessions past its limit.",
  labelNames: ["status"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const stats = await readActiveSessions();
    if (!stats) return;
    for (const status of ACTIVE_STATUSES) this.set({ status }, stats.find((s) => s.status === status)?.oldestHeartbeatAgeSeconds ?? 0);
  },
});

export const queueJobs = new Gauge({
  name: "forgebot_queue_jobs",
  help: "Jobs in each queue by state (waiting, active, delayed, failed); read from BullMQ at scrape time.",
  labelNames: ["queue", "state"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const queues = Object.entries(bound.at(-1)?.queues ?? {});
    const types = [...new Set(Object.values(QUEUE_STATES).flat())];
    await Promise.all(
      queues.map(async ([name, queue]) => {
        try {
          const counts = await withTimeout(() => queue.getJobCounts(...types));
          for (const [state, parts] of Object.entries(QUEUE_STATES)) {
            this.set({ queue: name, state }, parts.reduce((sum, part) => sum + (counts[part] ?? 0), 0));
          }
        } catch {
          // The queue backend is away: leave the series absent (readyz reports it) and count it.
          scrapeErrors.inc({ source: "queue" });
        }
      }),
    );
  },
});
