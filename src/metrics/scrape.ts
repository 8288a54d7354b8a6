import { Gauge } from "prom-client";
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

/*
 * prom-client calls every collect() of a scrape in one synchronous loop, so collectors that
 * share a read in flight make one query per scrape; the read is dropped once it settles.
 */
let sessionRead: Promise<ActiveSessionStats | null> | null = null;
let queueRead: Promise<Record<string, Record<string, number>> | null> | null = null;

function readActiveSessions(): Promise<ActiveSessionStats | null> {
  const source = bound.at(-1)?.activeSessions;
  if (!source) return Promise.resolve(null);
  sessionRead ??= withTimeout(source)
    .catch(() => null)
    .finally(() => {
      sessionRead = null;
    });
  return sessionRead;
}

function readQueues(): Promise<Record<string, Record<string, number>> | null> {
  const queues = bound.at(-1)?.queues;
  if (!queues) return Promise.resolve(null);
  const types = [...new Set(Object.values(QUEUE_STATES).flat())];
  queueRead ??= withTimeout(async () =>
    Object.fromEntries(await Promise.all(Object.entries(queues).map(async ([name, queue]) => [name, await queue.getJobCounts(...types)] as const))),
  )
    .catch(() => null)
    .finally(() => {
      queueRead = null;
    });
  return queueRead;
}

/** A gauge per non-terminal status, read from Postgres at scrape time. */
function activeSessionGauge(name: string, help: string, pick: (stat: ActiveSessionStats[number] | undefined) => number): Gauge<"status"> {
  return new Gauge({
    name,
    help,
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const stats = await readActiveSessions();
      if (!stats) return;
      for (const status of ACTIVE_STATUSES) this.set({ status }, pick(stats.find((s) => s.status === status)));
    },
  });
}

export const activeSessions = activeSessionGauge(
  "forgebot_sessions",
  "Sessions not yet ended, by status; read from Postgres at scrape time.",
  (stat) => stat?.count ?? 0,
);

export const oldestHeartbeatAge = activeSessionGauge(
  "forgebot_session_heartbeat_age_seconds",
  "Age of the oldest heartbeat among sessions in each non-terminal status (0 when none); the reaper fails running sessions past its limit.",
  (stat) => stat?.oldestHeartbeatAgeSeconds ?? 0,
);

export const queueJobs = new Gauge({
  name: "forgebot_queue_jobs",
  help: "Jobs in each queue by state (waiting, active, delayed, failed); read from BullMQ at scrape time.",
  labelNames: ["queue", "state"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const counts = await readQueues();
    for (const [queue, byType] of Object.entries(counts ?? {})) {
      for (const [state, types] of Object.entries(QUEUE_STATES)) {
        this.set({ queue, state }, types.reduce((sum, type) => sum + (byType[type] ?? 0), 0));
      }
    }
  },
});

export const scrapeSourceUp = new Gauge({
  name: "forgebot_metrics_source_up",
  help: "1 when this scrape could read the source (sessions: Postgres, queue: the queue backend) within 2 s, else 0; the gauges it feeds are left out.",
  labelNames: ["source"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const sources = bound.at(-1);
    const [sessions, queues] = await Promise.all([readActiveSessions(), readQueues()]);
    if (sources?.activeSessions) this.set({ source: "sessions" }, sessions ? 1 : 0);
    if (sources?.queues) this.set({ source: "queue" }, queues ? 1 : 0);
  },
});
