import { spawnSync } from "node:child_process";
import { startTestBot, testEnv, UNLIMITED_WRITES } from "../test/helpers/bot.js";
import { createTestDatabase, uniquePrefix } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { FakeOpenAI } from "../test/helpers/fake-openai.js";
import { COMPILED_BIN, DEV_BIN, ROOT, spawnForgebot, stopProcess } from "../test/helpers/processes.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { mentionDelivery, rssMb, type BenchResult } from "./support.js";

const SESSIONS = 50;
const TARGET_MB = 150;

type Rss = { median: number; peak: number };
type WorkerMemory = { idle: Rss; busy: Rss; inFlight: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS sampled every 200 ms for 3 s: GC timing moves a single reading by several MB. */
async function sampleRss(pid: number): Promise<Rss> {
  const samples: number[] = [];
  for (let i = 0; i < 15; i++) {
    samples.push(rssMb(pid));
    await sleep(200);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, peak: samples[samples.length - 1]! };
}

/**
 * One `forgebot worker` process (`bin`) on its own database and queue prefix: RSS once idle,
 * then with SESSIONS agent sessions waiting on a model that never answers.
 */
async function measureWorker(bin: string): Promise<WorkerMemory> {
  const database = await createTestDatabase();
  const github = await new FakeGitHub().start();
  const model = await new FakeOpenAI().start();
  model.script = () => ({ kind: "hang" });
  const env = testEnv({ databaseUrl: database.url, env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix(), OPENAI_BASE_URL: model.baseUrl, OPENAI_MODEL: "fake", OPENAI_API_KEY: "k", SESSION_CONCURRENCY: String(SESSIONS), LIFECYCLE_CONCURRENCY: "50", ...UNLIMITED_WRITES, JOB_LOCK_MS: "30000", JOB_STALLED_INTERVAL_MS: "30000" } });
  const web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
  const worker = spawnForgebot(["worker"], env, { bin });
  try {
    await sleep(8000);
    const idle = await sampleRss(worker.child.pid!);
    for (let i = 0; i < SESSIONS; i++) {
      const d = await mentionDelivery(i, `@forgebot look at this ${i}`, 1 + i, "mem");
      await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", ...d }).then((r) => r.arrayBuffer());
    }
    const deadline = Date.now() + 60_000;
    while (model.inFlight < SESSIONS && Date.now() < deadline) await sleep(100);
    await sleep(1000);
    const busy = await sampleRss(worker.child.pid!);
    return { idle, busy, inFlight: model.inFlight };
  } finally {
    await stopProcess(worker, "SIGKILL");
    await web.stop();
    await model.stop();
    await github.stop();
    await database.drop();
    await dropRedisPrefix(env.QUEUE_PREFIX!);
  }
}

function build(): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  if (run.status !== 0) throw new Error(`npm run build failed: ${run.stderr.toString()}`);
  return (performance.now() - started) / 1000;
}

const mb = (r: Rss) => `${r.median.toFixed(1)} MB RSS (peak ${r.peak.toFixed(1)})`;

/**
 * RSS of `forgebot worker` as the image runs it (compiled, bin/forgebot.js) idle and with 50
 * sessions in flight, against the same worker run from the sources through tsx in the same run.
 */
export async function benchMemory(): Promise<BenchResult> {
  const buildSeconds = build();
  const compiled = await measureWorker(COMPILED_BIN);
  const tsx = await measureWorker(DEV_BIN);
  const perSession = (w: WorkerMemory) => ((w.busy.median - w.idle.median) / Math.max(1, w.inFlight)).toFixed(2);
  const lines = [
    `npm run build (tsc + assets, clean): ${buildSeconds.toFixed(1)} s`,
    `compiled worker, idle: ${mb(compiled.idle)}`,
    `compiled worker, ${compiled.inFlight} concurrent sessions (model calls in flight): ${mb(compiled.busy)}, +${perSession(compiled)} MB per session; target ≤ ${TARGET_MB} MB`,
    `tsx worker (baseline), idle: ${mb(tsx.idle)}`,
    `tsx worker (baseline), ${tsx.inFlight} concurrent sessions: ${mb(tsx.busy)}, +${perSession(tsx)} MB per session`,
    `compiled / tsx with ${SESSIONS} sessions: ${(compiled.busy.median / tsx.busy.median).toFixed(2)}×`,
  ];
  const missed = [
    ...(compiled.inFlight < SESSIONS ? [`only ${compiled.inFlight} of ${SESSIONS} sessions reached the model in the compiled worker`] : []),
    ...(compiled.idle.peak > TARGET_MB ? [`compiled idle worker peaked at ${compiled.idle.peak.toFixed(1)} MB > ${TARGET_MB} MB`] : []),
    ...(compiled.busy.peak > TARGET_MB ? [`compiled worker with ${SESSIONS} sessions peaked at ${compiled.busy.peak.toFixed(1)} MB > ${TARGET_MB} MB`] : []),
  ];
  return { title: `Worker memory, compiled vs tsx, idle and with ${SESSIONS} concurrent sessions`, lines, missed };
}
