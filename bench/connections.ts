import pg from "pg";
import { testEnv, UNLIMITED_WRITES } from "../test/helpers/bot.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { startBenchCluster, type BenchCluster } from "./pg-cluster.js";
import { createSocketCounter } from "./pg-sockets.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { launchForgebot, stopAll, waitReady, type Serving } from "./spawn.js";
import { mentionDelivery, sleep, type BenchResult } from "./support.js";

const WORKERS = 8;
const SESSIONS = 200;
const MAX_CONNECTIONS = 100;
/** forgebot's default DATABASE_POOL_MAX: the bench runs the processes as shipped. */
const POOL_MAX = 10;
const SENDERS = 20;
const SAMPLE_MS = 50;
/** What a process may not log: Postgres refusing or dropping its connections. */
const CONNECTION_ERROR = /too many clients|remaining connection slots|connection slots are reserved|ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|connection lost/i;

const SOCKET_SAMPLE_MS = 100;

type Sample = { byApp: Map<string, number>; total: number };

/** Runs `take` every `everyMs` (or as often as the machine allows) until stopped. */
function every(everyMs: number, take: () => Promise<void> | void) {
  let running = true;
  let count = 0;
  const t0 = performance.now();
  let t1 = t0;
  const done = (async () => {
    while (running) {
      const started = performance.now();
      await take();
      count++;
      t1 = performance.now();
      await sleep(Math.max(0, everyMs - (t1 - started)));
    }
  })();
  return {
    /** Samples taken and their mean spacing in ms. */
    cadence: () => ({ count, meanMs: count > 1 ? (t1 - t0) / count : NaN }),
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * pg_stat_activity's client backends by application_name every SAMPLE_MS (the sampler's own
 * excluded), and apart, each process's connections from /proc every SOCKET_SAMPLE_MS (reading
 * /proc/net/tcp takes milliseconds on a busy machine: it must not slow the other sampler).
 */
function startSampling(client: pg.Client, port: number, pids: () => number[]) {
  const count = createSocketCounter(port);
  const samples: Sample[] = [];
  const peakByPid = new Map<number, number>();
  const activity = every(SAMPLE_MS, async () => {
    const { rows } = await client.query<{ app: string; n: number }>(
      "SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1",
    );
    samples.push({ byApp: new Map(rows.map((r) => [r.app, r.n])), total: rows.reduce((a, r) => a + r.n, 0) });
  });
  const sockets = every(SOCKET_SAMPLE_MS, () => {
    for (const [pid, n] of count(pids())) peakByPid.set(pid, Math.max(n, peakByPid.get(pid) ?? 0));
  });
  return {
    samples,
    peakByPid,
    cadence: () => ({ activity: activity.cadence(), sockets: sockets.cadence() }),
    async stop() {
      await Promise.all([activity.stop(), sockets.stop()]);
    },
  };
}

async function createRoleAndDatabase(cluster: BenchCluster): Promise<void> {
  const admin = new pg.Client({ connectionString: cluster.url("postgres") });
  await admin.connect();
  try {
    // Not a superuser: the one reserved slot stays free for the sampler whatever the bots hold.
    await admin.query("CREATE ROLE forgebot LOGIN");
    await admin.query("CREATE DATABASE forgebot OWNER forgebot");
  } finally {
    await admin.end();
  }
}

/**
 * 8 `forgebot worker` processes and one `forgebot web` (Redis queue, default DATABASE_POOL_MAX)
 * on a dedicated Postgres with max_connections=100, 200 `@forgebot help` sessions through signed
 * webhooks and a loopback forge: connection errors, and peak connections overall and per process.
 */
export async function benchConnections(): Promise<BenchResult> {
  const cluster = await startBenchCluster({ max_connections: MAX_CONNECTIONS, superuser_reserved_connections: 1 });
  const github = await new FakeGitHub().start().catch(async (err: unknown) => {
    await cluster.stop();
    throw err;
  });
  const env = testEnv({
    databaseUrl: cluster.url("forgebot", "forgebot"),
    env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", ...UNLIMITED_WRITES, DATABASE_POOL_MAX: String(POOL_MAX), JOB_LOCK_MS: "30000", JOB_STALLED_INTERVAL_MS: "30000", LOG_LEVEL: "warn" },
  });
  const fleet: Serving[] = [];
  let sampler: pg.Client | null = null;
  let sampling: ReturnType<typeof startSampling> | null = null;
  try {
    await createRoleAndDatabase(cluster);
    sampler = new pg.Client({ connectionString: cluster.url("postgres"), application_name: "bench-sampler" });
    await sampler.connect();
    const pids = () => fleet.map((s) => s.proc.child.pid ?? -1);
    sampling = startSampling(sampler, cluster.port, pids);

    // All nine start at once, as after a deploy: migrations and queue setup race too.
    const t0 = performance.now();
    fleet.push(await launchForgebot("web", "web", env));
    for (let i = 1; i <= WORKERS; i++) fleet.push(await launchForgebot(`worker ${i}`, "worker", env));
    await Promise.all(fleet.map((s) => waitReady(s, 120_000)));
    const startupS = (performance.now() - t0) / 1000;

    const web = fleet[0]!;
    const deliveries = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => mentionDelivery(i, "@forgebot help", 1 + i, "conn")));
    const t1 = performance.now();
    let next = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < deliveries.length) {
          const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", ...deliveries[next++]! });
          await res.arrayBuffer();
          if (res.status !== 202) refused++;
        }
      }),
    );
    const replies = () => github.live().filter((c) => c.body.includes("forgebot:reply")).length;
    const deadline = Date.now() + 120_000;
    while (replies() < SESSIONS && Date.now() < deadline) await sleep(50);
    const answered = replies();
    const sessionsS = (performance.now() - t1) / 1000;
    await sleep(500);
    await sampling.stop();
    const { samples, peakByPid } = sampling;
    const cadence = sampling.cadence();
    sampling = null;
    const peaks = new Map(fleet.map((s) => [s.name, peakByPid.get(s.proc.child.pid ?? -1) ?? 0]));
    // Stopped before the report: a process that drops connections while shutting down counts too.
    await stopAll(fleet.map((s) => s.proc));
    return report({ fleet, peaks, startupS, sessionsS, answered, refused, samples, cadence, cluster });
  } finally {
    if (sampling) await sampling.stop().catch(() => undefined);
    await stopAll(fleet.map((s) => s.proc));
    await sampler?.end().catch(() => undefined);
    await github.stop();
    await cluster.stop();
    await dropRedisPrefix(env.QUEUE_PREFIX!);
  }
}


type Measured = { fleet: Serving[]; peaks: Map<string, number>; startupS: number; sessionsS: number; answered: number; refused: number; samples: Sample[]; cadence: ReturnType<ReturnType<typeof startSampling>["cadence"]>; cluster: BenchCluster };

function report(m: Measured): BenchResult {
  const { fleet, peaks, samples } = m;
  const peak = (f: (s: Sample) => number) => Math.max(0, ...samples.map(f));
  const total = peak((s) => s.total);
  const pools = peak((s) => s.byApp.get("forgebot") ?? 0);
  const listens = peak((s) => s.byApp.get("forgebot-flags") ?? 0);
  const errors = fleet.map((s) => ({ name: s.name, lines: s.proc.output().split("\n").filter((l) => CONNECTION_ERROR.test(l)) }));
  const errorCount = errors.reduce((a, e) => a + e.lines.length, 0);
  const errorLines = fleet.flatMap((s) => s.proc.output().split("\n").filter((l) => /"level":(50|60)/.test(l)));
  const errorLevel = errorLines.length;
  // What the error-level lines say, each distinct message once with its count.
  const errorKinds = new Map<string, number>();
  for (const l of errorLines) {
    const msg = /"msg":"((?:[^"\\]|\\.){0,160})/.exec(l)?.[1] ?? l.slice(0, 160);
    errorKinds.set(msg, (errorKinds.get(msg) ?? 0) + 1);
  }
  const perProcessMax = POOL_MAX + 1;
  const workerPeaks = fleet.slice(1).map((s) => peaks.get(s.name) ?? 0);
  const over = [...peaks].filter(([, n]) => n > perProcessMax);
  const { activity, sockets } = m.cadence;
  const lines = [
    `9 processes (1 \`forgebot web\` + ${WORKERS} \`forgebot worker\`, Redis queue, DATABASE_POOL_MAX=${POOL_MAX}, LIFECYCLE_CONCURRENCY and SESSION_CONCURRENCY at their defaults) on a dedicated Postgres ${m.cluster.version} with max_connections=${MAX_CONNECTIONS} (1 reserved for the superuser sampler, so the bots, a non-superuser role, may hold ${MAX_CONNECTIONS - 1})`,
    `all 9 started together (migrations racing) and ready in ${m.startupS.toFixed(1)} s; ${m.answered}/${SESSIONS} \`@forgebot help\` sessions answered in ${m.sessionsS.toFixed(1)} s (${SENDERS} concurrent webhook senders, ${m.refused} webhooks not answered 202)`,
    `connection errors in the processes' logs: ${errorCount} (${errors.map((e) => `${e.name} ${e.lines.length}`).join(", ")}); error-level log lines: ${errorLevel}${errorKinds.size ? ` (${[...errorKinds].map(([m, n]) => `${n}× "${m}"`).join("; ")})` : ""}`,
    `peak connections (pg_stat_activity sampled every ${SAMPLE_MS} ms from the first spawn to the last reply: ${activity.count} samples, one per ${activity.meanMs.toFixed(0)} ms on average; the sampler's own excluded): ${total} of ${MAX_CONNECTIONS} (pools \`forgebot\` ${pools}, LISTEN \`forgebot-flags\` ${listens}; peaks of each kind, not necessarily at the same moment)`,
    `peak per process (its established TCP connections to Postgres, from /proc every ${SOCKET_SAMPLE_MS} ms: ${sockets.count} samples, one per ${sockets.meanMs.toFixed(0)} ms on average): web ${peaks.get("web") ?? 0}, workers ${Math.min(...workerPeaks)}–${Math.max(...workerPeaks)}; bound DATABASE_POOL_MAX + 1 = ${perProcessMax}, so 9 processes hold at most ${9 * perProcessMax}`,
  ];
  const missed: string[] = [];
  if (errorCount > 0) missed.push(`${errorCount} connection errors (target 0), e.g. ${errors.find((e) => e.lines.length)!.name}: ${errors.find((e) => e.lines.length)!.lines[0]!.slice(0, 300)}`);
  if (m.answered < SESSIONS) missed.push(`only ${m.answered} of ${SESSIONS} sessions answered within the deadline`);
  if (m.refused > 0) missed.push(`${m.refused} webhooks were not accepted (202)`);
  for (const [name, n] of over) missed.push(`${name} held ${n} connections > DATABASE_POOL_MAX + 1 = ${perProcessMax} (by ${n - perProcessMax})`);
  return { title: `Connections: 9 processes on one Postgres with max_connections=${MAX_CONNECTIONS}, ${SESSIONS} sessions`, lines, missed };
}
