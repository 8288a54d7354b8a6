import { createPostgresBackend, Queue, withBackend, Worker, type Processor } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { migrateQueueSchema, QUEUE_SCHEMA } from "../src/queue/backend.js";
import type { Flow } from "../src/sessions/flow.js";
import { startTestBot, UNLIMITED_WRITES, type TestBot } from "../test/helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { mentionDelivery, ms, percentile, ratio, sleep, withDeadline, type BenchResult } from "./support.js";

const COUNT = 400;
const CONCURRENCY = 50;
/** The raw Postgres baseline's pool: forgebot's whole default DATABASE_POOL_MAX, all for the queue. */
const RAW_PG_POOL = 10;
const DEADLINE_MS = 150_000;
const instant: Flow = { name: "chat", run: async () => ({ kind: "finished", markdown: "ok" }) };

type Backend = "redis" | "postgres";

/** A queue and a worker of raw BullMQ on `backend`, and how to dispose of both. */
type RawQueue = { queue: Queue; start(processor: Processor): Worker; close(): Promise<void> };

async function rawQueue(backend: Backend): Promise<RawQueue> {
  const prefix = uniquePrefix();
  if (backend === "redis") {
    const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const workerConn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue("raw", { connection: conn, prefix });
    return {
      queue,
      start: (processor) => new Worker("raw", processor, { connection: workerConn, prefix, concurrency: CONCURRENCY }),
      async close() {
        await queue.obliterate({ force: true });
        await queue.close();
        conn.disconnect();
        workerConn.disconnect();
        await dropRedisPrefix(prefix);
      },
    };
  }
  // BullMQ's Postgres backend as src/queue/backend.ts builds it: one pool, search_path on its schema.
  const database = await createTestDatabase({ migrate: false });
  const pool = new pg.Pool({ connectionString: database.url, max: RAW_PG_POOL, options: `-c search_path=${QUEUE_SCHEMA}`, application_name: "bench-raw" });
  await migrateQueueSchema(pool);
  const classes = withBackend(createPostgresBackend);
  const queue = new classes.Queue("raw", { connection: pool, prefix }) as unknown as Queue;
  let worker: Worker | null = null;
  return {
    queue,
    start: (processor) => (worker = new classes.Worker("raw", processor, { connection: pool, prefix, concurrency: CONCURRENCY }) as unknown as Worker),
    async close() {
      await worker?.close();
      await queue.close();
      await pool.end();
      await database.drop();
    },
  };
}

/** Raw BullMQ: add COUNT jobs and process them (three chained jobs each, like a session's mention, run, deliver). */
async function rawBullmq(backend: Backend): Promise<number> {
  const raw = await rawQueue(backend);
  try {
    let done = 0;
    let resolveDone: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (resolveDone = resolve));
    const t0 = performance.now();
    const worker = raw.start(async (job) => {
      if (job.data.stage < 3) await raw.queue.add("next", { stage: job.data.stage + 1 });
      else if (++done === COUNT) resolveDone();
    });
    await Promise.all(Array.from({ length: COUNT }, (_, i) => raw.queue.add("first", { stage: 1, i })));
    await withDeadline(`raw BullMQ on ${backend}`, DEADLINE_MS, finished);
    const elapsed = performance.now() - t0;
    await worker.close();
    return elapsed;
  } finally {
    await raw.close();
  }
}

/** forgebot end to end on `backend`: COUNT sessions from webhook to reply; wall time and per-session p50. */
async function forgebot(backend: Backend): Promise<{ elapsed: number; perSessionP50: number }> {
  const database = await createTestDatabase();
  const github = new FakeGitHub();
  const prefix = uniquePrefix();
  let bot: TestBot | null = null;
  try {
    await github.start();
    bot = await startTestBot({
      databaseUrl: database.url,
      queue: backend,
      flows: [instant],
      env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", ...UNLIMITED_WRITES, LIFECYCLE_CONCURRENCY: String(CONCURRENCY), SESSION_CONCURRENCY: String(CONCURRENCY), QUEUE_PREFIX: prefix },
    });
    const deliveries = await Promise.all(Array.from({ length: COUNT }, (_, i) => mentionDelivery(i, "@forgebot go", 1 + i, "life")));
    const url = `${bot.baseUrl}/api/github/webhooks`;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < deliveries.length) await fetch(url, { method: "POST", ...deliveries[next++]! }).then((r) => r.arrayBuffer());
    }));
    const replies = () => github.live().filter((c) => c.body.includes("forgebot:reply")).length;
    const deadline = Date.now() + DEADLINE_MS;
    while (replies() < COUNT && Date.now() < deadline) await sleep(20);
    if (replies() < COUNT) throw new Error(`only ${replies()} of ${COUNT} sessions answered within ${DEADLINE_MS / 1000} s on ${backend}`);
    const elapsed = performance.now() - t0;
    const { rows } = await database.db.query<{ s: number }>("SELECT EXTRACT(EPOCH FROM finished_at - created_at)::float8 * 1000 AS s FROM sessions");
    return { elapsed, perSessionP50: percentile(rows.map((r) => r.s), 50) };
  } finally {
    await bot?.stop();
    await github.stop();
    await database.drop();
    if (backend === "redis") await dropRedisPrefix(prefix);
  }
}

async function measure(backend: Backend) {
  const ours = await forgebot(backend);
  const raw = await rawBullmq(backend);
  const perSession = (ours.elapsed - raw) / COUNT;
  const rate = COUNT / (ours.elapsed / 1000);
  const lines = [
    `forgebot: ${COUNT} sessions in ${ms(ours.elapsed)} = ${rate.toFixed(0)} sessions/s (per-session wall time p50 ${ms(ours.perSessionP50)})`,
    `raw BullMQ (baseline${backend === "postgres" ? `, BullMQ's Postgres backend on a pool of ${RAW_PG_POOL}` : ""}): ${COUNT} × 3 chained jobs in ${ms(raw)} = ${(COUNT / (raw / 1000)).toFixed(0)} chains/s`,
    `overhead per session: ${ms(perSession)} (ratio ${ratio(ours.elapsed, raw)}); ${backend === "redis" ? "Redis" : "Postgres"} backend, concurrency ${CONCURRENCY}, write budget raised out of the way`,
  ];
  return { rate, perSession, lines };
}

/** Sessions/s end to end (webhook → started note → flow → delete → reply) with an instant flow, Redis backend. */
export async function benchLifecycle(): Promise<BenchResult> {
  const { rate, perSession, lines } = await measure("redis");
  const missed: string[] = [];
  if (rate < 200) missed.push(`lifecycle ${rate.toFixed(0)} sessions/s < 200 (short by ${(200 - rate).toFixed(0)}): each session makes 4 HTTP calls to the forge (permission, started note, delete, reply), about 20 Postgres statements (session row, events, intents, locks) and 3 queue jobs on 2 shared cores`);
  if (perSession > 10) missed.push(`overhead ${ms(perSession)} per session > 10 ms (by ${ms(perSession - 10)}; see above)`);
  return { title: `Lifecycle overhead, instant flow, ${COUNT} sessions, Redis backend`, lines, missed };
}

/**
 * The same on BullMQ's Postgres backend (no REDIS_URL: the embedded deployment's queue), against
 * raw BullMQ on the same backend. No target: the issue's targets are for Redis.
 */
export async function benchLifecyclePostgres(): Promise<BenchResult> {
  const { lines } = await measure("postgres");
  return { title: `Lifecycle overhead, instant flow, ${COUNT} sessions, Postgres backend (no target)`, lines, missed: [] };
}
