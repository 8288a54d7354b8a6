import { createPostgresBackend, Queue, runMigrations, withBackend, Worker, type Processor } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";

export type QueueBackendConfig = { kind: "redis"; url: string } | { kind: "postgres"; url: string };

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
export async function migrateQueueSchema(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await runMigrations(client);
  } finally {
    await client.end();
  }
}

export function createQueueFactory(config: QueueBackendConfig, prefix: string): QueueFactory {
  if (config.kind === "postgres") {
    const classes = withBackend(createPostgresBackend);
    return {
      kind: "postgres",
      createQueue: (name) => new classes.Queue(name, { connection: config.url, prefix }) as unknown as Queue,
      createWorker: (name, processor, tuning) =>
        new classes.Worker(name, processor, { connection: config.url, prefix, ...tuning }) as unknown as Worker,
      close: async () => undefined,
    };
  }
  // Producers fail fast when Redis is away; workers wait for it (maxRetriesPerRequest: null).
  const producer = new Redis(config.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  producer.on("error", () => undefined);
  const workerConnections: Redis[] = [];
  return {
    kind: "redis",
    createQueue: (name) => new Queue(name, { connection: producer, prefix }),
    createWorker: (name, processor, tuning) => {
      const connection = new Redis(config.url, { maxRetriesPerRequest: null });
      connection.on("error", () => undefined);
      workerConnections.push(connection);
      return new Worker(name, processor, { connection, prefix, ...tuning });
    },
    close: async () => {
      await Promise.all([producer, ...workerConnections].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
