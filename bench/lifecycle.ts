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

/** What the sessions cost in round trips: Postgres statements and forge requests, by kind. */
type RoundTrips = { statements: Map<string, number>; forge: Map<string, number>; events: Map<string, number> };

/** A statement's kind: its verb and the table it is about (`INSERT session_events`, `BEGIN`). */
function statementKind(text: string): string {
  const sql = text.replace(/--[^\n]*(\n|$)/g, " ").replace(/\s+/g, " ").trim();
  const verb = /^\w+/.exec(sql)?.[0]?.toUpperCase() ?? "?";
  if (verb === "WITH") {
    const writes = [...sql.matchAll(/\b(INSERT INTO|UPDATE|DELETE FROM) (\w+)/gi)].map((m) => `${m[1]!.split(" ")[0]!.toUpperCase()} ${m[2]}`);
    return `WITH ${writes.length ? writes.join(" + ") : (/\bFROM (\w+)/i.exec(sql)?.[1] ?? "")}`.trim();
  }
  const table = /\b(?:INTO|UPDATE|FROM)\s+(\w+)/i.exec(sql)?.[1];
  if (verb === "SELECT" && /pg_(try_)?advisory/i.test(sql)) return "SELECT advisory lock";
  // A function call, as BullMQ's Postgres backend makes them: `SELECT * FROM move_to_active(…)`.
  const fn = /^SELECT (?:[\w*]+ FROM )?(\w+)\s*\(/i.exec(sql)?.[1];
  if (fn) return `${fn}()`;
  return table ? `${verb} ${table}` : verb;
}

/** Counts every statement any pg client in this process sends until the returned stop is called. */
function countStatements(): { stop(): Map<string, number> } {
  const counts = new Map<string, number>();
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === "string" ? first : (first?.text ?? "");
    if (text) counts.set(statementKind(text), (counts.get(statementKind(text)) ?? 0) + 1);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  return {
    stop() {
      pg.Client.prototype.query = original;
      return counts;
    },
  };
}

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
  // Dropping the database at the end terminates a connection the backend may still hold: expected then.
  pool.on("error", () => undefined);
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
async function forgebot(backend: Backend): Promise<{ elapsed: number; perSessionP50: number; trips: RoundTrips }> {
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
    const counting = countStatements();
    const since = Date.now();
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
    const statements = counting.stop();
    const forge = new Map<string, number>();
    for (const r of github.requests.filter((q) => q.at >= since)) {
      const kind = `${r.method} ${r.path.replace(/\/\d+/g, "/{n}").replace(/^\/api\/v3/, "").replace(/^\/repos\/[^/]+\/[^/]+/, "/repos/{o}/{r}")}`;
      forge.set(kind, (forge.get(kind) ?? 0) + 1);
    }
    const kinds = await database.db.query<{ kind: string; n: number }>("SELECT kind, count(*)::int AS n FROM session_events GROUP BY kind");
    const events = new Map(kinds.rows.map((r) => [r.kind, r.n]));
    const { rows } = await database.db.query<{ s: number }>("SELECT EXTRACT(EPOCH FROM finished_at - created_at)::float8 * 1000 AS s FROM sessions");
    return { elapsed, perSessionP50: percentile(rows.map((r) => r.s), 50), trips: { statements, forge, events } };
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
  const perSessionOf = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(n / COUNT).toFixed(2)}`).join(", ");
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, n) => a + n, 0) / COUNT;
  lines.push(
    `measured per session: ${total(ours.trips.statements).toFixed(1)} Postgres statements${backend === "postgres" ? ", the queue's own included" : ""} (${perSessionOf(ours.trips.statements)})`,
    `measured per session: ${total(ours.trips.forge).toFixed(1)} forge requests (${perSessionOf(ours.trips.forge)})`,
    `session events recorded per session (each with its state change in one statement): ${perSessionOf(ours.trips.events)}`,
  );
  return { rate, perSession, lines, trips: ours.trips };
}

const statementsOf = (trips: RoundTrips) => [...trips.statements.values()].reduce((a, n) => a + n, 0);

/** Sessions/s end to end (webhook → started note → flow → delete → reply) with an instant flow, Redis backend. */
export async function benchLifecycle(): Promise<BenchResult> {
  const { rate, perSession, lines, trips } = await measure("redis");
  const missed: string[] = [];
  if (rate < 200 || perSession > 10) {
    const floor = `what remains per session (measured above) is the floor of a lifecycle that never loses a request and never answers twice: 3 queue jobs (mention, run, deliver: each a crash boundary that another worker resumes); the 4 forge requests (permission check, started note, its delete, the reply: the product itself); and ${(statementsOf(trips) / COUNT).toFixed(1)} Postgres statements, each one durable step: the delivery read and marked processed, the session created and read by its run, two status changes (running, finished), and a write-ahead intent and its outcome around the started note and around the reply, plus the delete's outcome, each with its event in one statement (so a crash after the forge applied a write neither repeats it nor loses it); on 2 cores shared with Postgres, Redis, the fake forge and the load generator`;
    if (rate < 200) missed.push(`lifecycle ${rate.toFixed(0)} sessions/s < 200 (short by ${(200 - rate).toFixed(0)}); ${floor}`);
    if (perSession > 10) missed.push(`overhead ${ms(perSession)} per session > 10 ms (by ${ms(perSession - 10)}; see above)`);
  }
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
