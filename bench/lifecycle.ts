import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Flow } from "../src/sessions/flow.js";
import { startTestBot, UNLIMITED_WRITES } from "../test/helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { mentionDelivery, ms, percentile, ratio, type BenchResult } from "./support.js";

const COUNT = 400;
const instant: Flow = { name: "chat", run: async () => ({ kind: "finished", markdown: "ok" }) };

/** Raw BullMQ: add COUNT jobs and process them (three jobs each, like a session's mention, run, deliver). */
async function rawBullmq(): Promise<number> {
  const prefix = uniquePrefix();
  const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue("raw", { connection: conn, prefix });
  let done = 0;
  const t0 = performance.now();
  let resolveDone: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (resolveDone = resolve));
  const worker = new Worker("raw", async (job) => {
    if (job.data.stage < 3) await queue.add("next", { stage: job.data.stage + 1 });
    else if (++done === COUNT) resolveDone();
  }, { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix, concurrency: 50 });
  await Promise.all(Array.from({ length: COUNT }, (_, i) => queue.add("first", { stage: 1, i })));
  await finished;
  await worker.close();
  const elapsed = performance.now() - t0;
  await queue.obliterate({ force: true });
  await queue.close();
  conn.disconnect();
  return elapsed;
}

/** Sessions/s end to end (webhook → started note → flow → delete → reply) with an instant flow. */
export async function benchLifecycle(): Promise<BenchResult> {
  const database = await createTestDatabase();
  const github = await new FakeGitHub().start();
  const bot = await startTestBot({
    databaseUrl: database.url,
    flows: [instant],
    env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", ...UNLIMITED_WRITES, LIFECYCLE_CONCURRENCY: "50", SESSION_CONCURRENCY: "50" },
  });
  try {
    const deliveries = await Promise.all(Array.from({ length: COUNT }, (_, i) => mentionDelivery(i, "@forgebot go", 1 + i, "life")));
    const url = `${bot.baseUrl}/api/github/webhooks`;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < deliveries.length) await fetch(url, { method: "POST", ...deliveries[next++]! }).then((r) => r.arrayBuffer());
    }));
    while (github.live().filter((c) => c.body.includes("forgebot:reply")).length < COUNT) await new Promise((r) => setTimeout(r, 20));
    const ours = performance.now() - t0;
    const raw = await rawBullmq();
    const perSession = (ours - raw) / COUNT;
    const rate = COUNT / (ours / 1000);
    const { rows } = await database.db.query<{ s: number }>("SELECT EXTRACT(EPOCH FROM finished_at - created_at)::float8 * 1000 AS s FROM sessions");
    const lines = [
      `forgebot: ${COUNT} sessions in ${ms(ours)} = ${rate.toFixed(0)} sessions/s (per-session wall time p50 ${ms(percentile(rows.map((r) => r.s), 50))})`,
      `raw BullMQ (baseline): ${COUNT} × 3 chained jobs in ${ms(raw)} = ${(COUNT / (raw / 1000)).toFixed(0)} chains/s`,
      `overhead per session: ${ms(perSession)} (ratio ${ratio(ours, raw)}); Redis backend, write budget raised out of the way`,
    ];
    const missed: string[] = [];
    if (rate < 200) missed.push(`lifecycle ${rate.toFixed(0)} sessions/s < 200: each session makes 4 HTTP calls to the forge (permission, started note, delete, reply), about 20 Postgres statements (session row, events, intents, locks) and 3 queue jobs on 2 shared cores`);
    if (perSession > 10) missed.push(`overhead ${ms(perSession)} per session > 10 ms (see above)`);
    return { title: `Lifecycle overhead, instant flow, ${COUNT} sessions, Redis backend`, lines, missed };
  } finally {
    await bot.stop();
    await github.stop();
    await database.drop();
  }
}
