import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "../sessions/logger.js";
import type { Db } from "../storage/pool.js";
import { jobIds } from "./names.js";
import { LIFECYCLE_QUEUE, SESSIONS_QUEUE } from "./names.js";

/**
 * Queue state belongs to one database. Job ids are Postgres serial ids, so a Redis that outlives
 * its database (the database recreated, or restored from a backup) would meet a new row's job id
 * as an old completed job, and the add would be a silent no-op. BullMQ's prefix is therefore
 * `<QUEUE_PREFIX>-<namespace>`, the namespace held by the database (`installation`, created at
 * migration): a new database gets a fresh namespace. A restored database keeps its namespace but
 * is behind the queue: when the job of the next delivery or session id already exists in Redis,
 * the namespace is rotated (compare-and-set, so concurrent starters agree) and logged.
 */
export type QueueNamespace = { prefix: string; namespace: string; rotated: boolean; foreign: string[] };

async function readNamespace(db: Db): Promise<string> {
  const { rows } = await db.query<{ queue_namespace: string }>("SELECT queue_namespace FROM installation");
  if (!rows[0]) throw new Error("the installation row is missing: run `forgebot migrate`");
  return rows[0].queue_namespace;
}

/**
 * True when Redis already holds a job Postgres has not created yet: Postgres is behind the queue.
 * Reading the sequences and then Redis is not one step: a process running meanwhile may take the
 * next id and enqueue its job, which is then found too. Its row was committed before the job was
 * added, so a job whose row exists (looked up after Redis) is a live one; only a job without its
 * row is left from a later state of the database.
 */
async function behindTheQueue(db: Db, redis: Redis, prefix: string): Promise<boolean> {
  // The ids the sequences hand out next (a restore sets them back; TRUNCATE does not).
  const { rows } = await db.query<{ delivery: number; session: number }>(
    `SELECT (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM webhook_deliveries_id_seq) AS delivery,
            (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM sessions_id_seq) AS session`,
  );
  const next = rows[0] ?? { delivery: 1, session: 1 };
  const deliveryJob = await redis.exists(`${prefix}:${LIFECYCLE_QUEUE}:${jobIds.mention(next.delivery)}`);
  const sessionJobs = await redis.exists(`${prefix}:${SESSIONS_QUEUE}:${jobIds.run(next.session, 1)}`, `${prefix}:${LIFECYCLE_QUEUE}:${jobIds.deliver(next.session, 1)}`);
  if (deliveryJob === 0 && sessionJobs === 0) return false;
  const { rows: existing } = await db.query<{ delivery: boolean; session: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1) AS delivery, EXISTS (SELECT 1 FROM sessions WHERE id = $2) AS session",
    [next.delivery, next.session],
  );
  const rowOf = existing[0] ?? { delivery: false, session: false };
  return (deliveryJob > 0 && !rowOf.delivery) || (sessionJobs > 0 && !rowOf.session);
}

/** Other namespaces of the same QUEUE_PREFIX in this Redis: other databases' queues. */
async function foreignNamespaces(redis: Redis, base: string, own: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${base}-*:${LIFECYCLE_QUEUE}:meta`, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const namespace = key.slice(base.length + 1, key.indexOf(":"));
      if (namespace !== own) found.add(namespace);
    }
  } while (cursor !== "0" && found.size < 20);
  return [...found];
}

/**
 * The BullMQ prefix for this database. On Redis, also rotates the namespace of a database found
 * behind the queue, and logs once when Redis holds other databases' queues.
 */
export async function resolveQueueNamespace(db: Db, options: { base: string; redisUrl: string | null; log: Logger }): Promise<QueueNamespace> {
  let namespace = await readNamespace(db);
  if (!options.redisUrl) return { prefix: `${options.base}-${namespace}`, namespace, rotated: false, foreign: [] };
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on("error", (err: unknown) => options.log.debug({ err }, "Redis error while checking the queue namespace"));
  try {
    await redis.connect();
    let rotated = false;
    if (await behindTheQueue(db, redis, `${options.base}-${namespace}`)) {
      const fresh = randomBytes(6).toString("hex");
      await db.query("UPDATE installation SET queue_namespace = $2, rotated_at = now() WHERE queue_namespace = $1", [namespace, fresh]);
      const previous = namespace;
      namespace = await readNamespace(db);
      rotated = true;
      options.log.warn(
        { previous, namespace },
        "the database is behind the queue (restored from a backup?): jobs of its next ids already exist in Redis; queueing under a new namespace",
      );
    }
    const foreign = await foreignNamespaces(redis, options.base, namespace);
    if (foreign.length > 0) {
      options.log.warn({ namespace, others: foreign }, "Redis holds queues of other databases under the same QUEUE_PREFIX; they are left alone");
    }
    return { prefix: `${options.base}-${namespace}`, namespace, rotated, foreign };
  } finally {
    redis.disconnect();
  }
}
