import { createPostgresBackend, Queue, runMigrations, withBackend, Worker, type Processor } from "bullmq";
import { Redis } from "ioredis";
import type pg from "pg";
import type { Logger } from "../sessions/logger.js";

/**
 * Redis by URL; Postgres through a pool the caller made (with `search_path` on BullMQ's schema),
 * which every queue and worker of the process shares, each worker holding one client for its
 * LISTEN: the queue's connections are counted in the process's budget.
 */
export type QueueBackendConfig = { kind: "redis"; url: string } | { kind: "postgres"; pool: pg.Pool };

/** BullMQ's schema on Postgres; a pool for the queue sets `search_path` to it. */
export const QUEUE_SCHEMA = "bullmq";

/**
 * Builds BullMQ queues and workers on Redis (production) or on BullMQ's Postgres backend (the
 * embedded default, when REDIS_URL is unset). Everything above this file is backend-neutral.
 */
export type QueueFactory = {
  kind: QueueBackendConfig["kind"];
  createQueue(name: string): Queue;
  createWorker(name: string, processor: Processor, options: WorkerTuning): Worker;
  /** Closes connections this factory opened itself. */
  close(): Promise<void>;
};

export type WorkerTuning = { concurrency: number; lockDuration: number; stalledInterval: number; maxStalledCount: number };

/** Runs the Postgres backend's own migrations (idempotent, advisory-locked by BullMQ). */
export async function migrateQueueSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await runMigrations(client);
  } finally {
    client.release();
  }
}

/** ioredis reports every failed reconnect as an error: one warning per outage, the rest at debug. */
function watchConnection(connection: Redis, role: string, log: Logger): void {
  let healthy = true;
  connection.on("ready", () => {
    healthy = true;
  });
  connection.on("error", (err: unknown) => {
    if (healthy) log.warn({ err, role }, "Redis connection lost; reconnecting");
    else log.debug({ err, role }, "Redis still unreachable");
    healthy = false;
  });
}

export function createQueueFactory(config: QueueBackendConfig, prefix: string, log: Logger): QueueFactory {
  if (config.kind === "postgres") {
    const classes = withBackend(createPostgresBackend);
    return {
      kind: "postgres",
      createQueue: (name) => new classes.Queue(name, { connection: config.pool, prefix }) as unknown as Queue,
      createWorker: (name, processor, tuning) =>
        new classes.Worker(name, processor, { connection: config.pool, prefix, ...tuning }) as unknown as Worker,
      close: async () => undefined,
    };
  }
  // Producers fail fast when Redis is away; workers wait for it (maxRetriesPerRequest: null).
  const producer = new Redis(config.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  watchConnection(producer, "producer", log);
  const workerConnections: Redis[] = [];
  return {
    kind: "redis",
    createQueue: (name) => new Queue(name, { connection: producer, prefix }),
    createWorker: (name, processor, tuning) => {
      const connection = new Redis(config.url, { maxRetriesPerRequest: null });
      watchConnection(connection, `worker ${name}`, log);
      workerConnections.push(connection);
      return new Worker(name, processor, { connection, prefix, ...tuning });
    },
    close: async () => {
      // QUIT needs a live connection; when Redis is gone, just drop the socket.
      await Promise.all([producer, ...workerConnections].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
