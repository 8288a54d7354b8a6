import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createLogger } from "../../../src/logging/logger.js";
import { resolveQueueNamespace } from "../../../src/queue/namespace.js";
import { jobIds, LIFECYCLE_QUEUE, SESSIONS_QUEUE } from "../../../src/queue/names.js";
import { createSessionStore } from "../../../src/storage/session-store.js";
import type { Db } from "../../../src/storage/pool.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from "../../helpers/db.js";

/**
 * A process starting while others run checks whether Postgres is behind the queue (src/queue/
 * namespace.ts). Between its read of the sequences and its look into Redis, a running process
 * may take the next ids and enqueue their jobs: those are live jobs, and the namespace must stay,
 * or the starting worker would consume a namespace the running web process does not enqueue to.
 */
const log = createLogger("silent");
let database: TestDatabase;
let redis: Redis;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  redis.disconnect();
  await database.drop();
});

/** What a running web process and worker do for one mention: a delivery row and a session row, then their jobs. */
async function intake(prefix: string): Promise<void> {
  const lifecycle = new Queue(LIFECYCLE_QUEUE, { connection: redis, prefix });
  const sessions = new Queue(SESSIONS_QUEUE, { connection: redis, prefix });
  const { rows } = await database.db.query<{ id: number }>("INSERT INTO webhook_deliveries (forge, delivery_key, event_name) VALUES ('github', $1, 'issue_comment') RETURNING id", [`race-${Date.now()}`]);
  await lifecycle.add("mention", { deliveryId: rows[0]!.id }, { jobId: jobIds.mention(rows[0]!.id) });
  const { session } = await createSessionStore(database.db).createSession({
    thread: { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", kind: "issue", number: 1 },
    triggerKey: `race-${Date.now()}`,
    triggerCommentId: "1",
    actor: { id: "1", login: "u" },
    command: "chat",
    prompt: "p",
    flow: "chat",
    parentSessionId: null,
    origin: "mention",
    title: "t",
    threadUrl: undefined,
    triggerCreatedAt: new Date().toISOString(),
  });
  await sessions.add("run", { sessionId: session.id, run: 1 }, { jobId: jobIds.run(session.id, 1) });
  await Promise.all([lifecycle.close(), sessions.close()]);
}

/** The database, with `meanwhile` run right after the first read of the id sequences answers. */
function racingDb(meanwhile: () => Promise<void>): Db {
  let raced = false;
  return new Proxy(database.db, {
    get(target, key, receiver) {
      if (key !== "query") return Reflect.get(target, key, receiver);
      return async (...args: unknown[]) => {
        const result = await (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
        if (!raced && String(args[0]).includes("sessions_id_seq")) {
          raced = true;
          await meanwhile();
        }
        return result;
      };
    },
  });
}

describe("the queue namespace check of a starting process", () => {
  it("keeps the namespace when the next ids were taken, and their jobs enqueued, while it looked", async () => {
    const base = uniquePrefix();
    const first = await resolveQueueNamespace(database.db, { base, redisUrl: TEST_REDIS_URL, log });
    const again = await resolveQueueNamespace(racingDb(() => intake(first.prefix)), { base, redisUrl: TEST_REDIS_URL, log });
    expect({ rotated: again.rotated, namespace: again.namespace }).toEqual({ rotated: false, namespace: first.namespace });
  });

  it("still moves to a new namespace when Redis holds a job of an id the database has not handed out", async () => {
    const base = uniquePrefix();
    const first = await resolveQueueNamespace(database.db, { base, redisUrl: TEST_REDIS_URL, log });
    const { rows } = await database.db.query<{ next: number }>("SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next FROM sessions_id_seq");
    // A job left by a later state of this database (as after a restore from a backup).
    const sessions = new Queue(SESSIONS_QUEUE, { connection: redis, prefix: first.prefix });
    await sessions.add("run", { sessionId: rows[0]!.next, run: 1 }, { jobId: jobIds.run(rows[0]!.next, 1) });
    await sessions.close();
    const again = await resolveQueueNamespace(database.db, { base, redisUrl: TEST_REDIS_URL, log });
    expect(again.rotated).toBe(true);
    expect(again.namespace).not.toBe(first.namespace);
  });
});
