import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Writable } from "node:stream";
import pg from "pg";
import { loadConfig } from "../../src/config/index.js";
import { createLogger } from "../../src/logging/logger.js";
import { archiveBuffer, type ArchiveEntry } from "../helpers/archives.js";
import { startTestBot, testEnv, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { CHANGE_REPO, CHANGE_SHA, enableChanges, NEW_INDEX, workspaceRoot } from "../helpers/change-session.js";
import { ADMIN_URL, createTestDatabase, uniquePrefix, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import type { FakeReply, ModelRequest } from "../helpers/fake-openai.js";
import { FakeOpenAI } from "../helpers/fake-openai.js";
import { signedHeaders } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../helpers/processes.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { writeFigures } from "./support.js";

/**
 * The whole system under load, on the Redis queue backend: three `forgebot worker` processes and
 * a web process take 2 000 signed mention deliveries at concurrency 50 across 20 repositories
 * (400 distinct chat mentions, each redelivered twice under its own delivery id and sent twice
 * more under new ids, shuffled) while 10 change sessions, started first, edit their repositories
 * and run a sandboxed `sh test.sh` that takes 3–5 s. Every delivery is acknowledged 2xx, each
 * distinct comment gets one session and one reply, the change sessions end waiting for
 * `@forgebot apply` (CHANGE_APPROVAL=always, the default), the queues drain with no failed job and
 * no error logged, and Postgres connections stay within README's "Sizing Postgres" bound for
 * four processes, sampled every 100 ms throughout.
 */
const TOTAL = 2000;
const UNIQUE = 400;
const CONCURRENCY = 50;
const REPOS = 20;
const WORKERS = 3;
/** The three workers and the web process: what the documented connection bound is counted for. */
const PROCESSES = WORKERS + 1;
const CHANGES = 10;
const OWNER = "load-org";
const SAMPLE_MS = 100;

const root = workspaceRoot();
let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
let sampler: ConnectionSampler;
const workers: BotProcess[] = [];
/** The web process's log lines at warn and above (its workers' are in their output). */
const webLog: string[] = [];

type Repo = { id: number; full_name: string };
const repos: Repo[] = Array.from({ length: REPOS }, (_, k) => ({ id: 5_100_000 + k, full_name: `${OWNER}/repo-${k}` }));

/** The change sessions' repository: CHANGE_REPO, its test script sleeping as long as it is told first. */
const SLOW_REPO: ArchiveEntry[] = CHANGE_REPO.map((e) =>
  e.type === "File" && e.path === "test.sh" ? { ...e, content: String(e.content).replace("set -e\n", 'set -e\nsleep "${1:-4}"\n') } : e,
);

/** Change session k: its command sleeps 3, 4 or 5 s. */
const sleepOf = (k: number) => 3 + (k % 3);

/** The change agent's steps: write a file, edit another, run the slow test script, answer. */
function changeSteps(k: number): FakeReply[] {
  return [
    { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
    { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
    { kind: "tools", calls: [{ name: "run", input: { command: `sh test.sh ${sleepOf(k)}` } }] },
    { kind: "text", text: `Change ${k} done; \`sh test.sh\` passes.` },
  ];
}

/** Change sessions follow their steps; a chat mention is answered at once with its own tag. */
function script(r: ModelRequest): FakeReply {
  const change = /change-session-(\d+)/.exec(r.raw);
  if (change) {
    const steps = changeSteps(Number(change[1]));
    return steps[Math.min(r.toolResults, steps.length - 1)]!;
  }
  return { kind: "text", text: `Echo tag-${/tag-(\d+)/.exec(r.raw)?.[1] ?? "?"}.` };
}

type Sample = { at: number; bot: number; pool: number; listen: number; total: number };
type ConnectionSampler = { samples: Sample[]; errors: string[]; stop(): Promise<void> };

/**
 * Counts the test database's connections every SAMPLE_MS from a client on the admin database (so
 * the sampler is not among them): the forgebot processes' pools (`forgebot`), their LISTEN
 * connections (`forgebot-flags`), and everything but this test's own pool (`forgebot-test`).
 */
async function sampleConnections(name: string): Promise<ConnectionSampler> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: "forgebot-load-sampler" });
  await client.connect();
  const samples: Sample[] = [];
  const errors: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const { rows } = await client.query<Omit<Sample, "at">>(
          `SELECT count(*) FILTER (WHERE application_name IS DISTINCT FROM 'forgebot-test')::int AS bot,
                  count(*) FILTER (WHERE application_name = 'forgebot')::int AS pool,
                  count(*) FILTER (WHERE application_name = 'forgebot-flags')::int AS listen,
                  count(*)::int AS total
             FROM pg_stat_activity WHERE datname = $1`,
          [name],
        );
        samples.push({ at: Date.now(), ...rows[0]! });
      } catch (err: unknown) {
        errors.push(String(err));
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  return {
    samples,
    errors,
    async stop() {
      running = false;
      await loop;
      await client.end();
    },
  };
}

/** Pino lines at `level` or above (40 warn, 50 error, 60 fatal) in a process's output. */
function logLines(output: string, level: number): string[] {
  return output.split("\n").filter((line) => {
    if (!line.startsWith("{")) return false;
    try {
      return Number((JSON.parse(line) as { level?: unknown }).level) >= level;
    } catch {
      return false;
    }
  });
}

/** How often each message was logged. */
function messages(lines: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const msg = String((JSON.parse(line) as { msg?: unknown }).msg);
    counts[msg] = (counts[msg] ?? 0) + 1;
  }
  return counts;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

type Delivery = { id: string; body: string };

/** Distinct comment i: repository i % REPOS, a thread of its own (thread memory would mix tags). */
function mentionPayload(i: number): string {
  const payload = githubExample("issue_comment", "created", (p) => {
    Object.assign(p.repository, repos[i % REPOS]!);
    p.comment.id = 7_400_000 + i;
    p.comment.body = `@forgebot echo tag-${i}`;
    p.comment.created_at = new Date().toISOString();
    p.issue.number = 1 + Math.floor(i / REPOS);
  });
  return JSON.stringify(payload);
}

/** As test/faults/load.test.ts: originals, same-id redeliveries and new-id copies, shuffled. */
function deliveries(): Delivery[] {
  const unique = Array.from({ length: UNIQUE }, (_, i) => ({ id: `load-flows-${i}`, body: mentionPayload(i) }));
  const redelivered = [...unique, ...unique];
  const renamed = [...unique, ...unique].map((d, i) => ({ id: `load-flows-copy-${i}`, body: d.body }));
  const all = [...unique, ...redelivered, ...renamed];
  let seed = 4242;
  for (let i = all.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all;
}

async function post(id: string, body: string): Promise<number> {
  const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", id, body), body });
  await res.arrayBuffer();
  return res.status;
}

/** Change session k: `@forgebot change …` in repository k, thread 900 + k. */
async function startChange(k: number): Promise<void> {
  const body = JSON.stringify(
    githubExample("issue_comment", "created", (p) => {
      Object.assign(p.repository, repos[k]!);
      p.comment.id = 7_300_000 + k;
      p.comment.body = `@forgebot change make sub subtract and export it change-session-${k}`;
      p.comment.created_at = new Date().toISOString();
      p.issue.number = 900 + k;
    }),
  );
  expect(await post(`load-flows-change-${k}`, body)).toBe(202);
}

beforeAll(async () => {
  database = await createTestDatabase();
  // Sandbox users are 200000 + session id % 50000: ids no other test file uses keep them apart.
  await database.db.query(`ALTER SEQUENCE sessions_id_seq RESTART WITH ${47_000 + (process.pid % 2_000)}`);
  sampler = await sampleConnections(database.name);
  github = await new FakeGitHub().start();
  github.archives.set(CHANGE_SHA, await archiveBuffer(SLOW_REPO));
  github.branchHeads.set("main", CHANGE_SHA);
  model = await new FakeOpenAI(script).start();
  for (let k = 0; k < CHANGES; k++) await enableChanges(database.db, `github:repo:${repos[k]!.full_name}`);
  env = testEnv({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: "warn",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      ...UNLIMITED_WRITES,
      LIFECYCLE_CONCURRENCY: "50",
      SESSION_CONCURRENCY: "50",
      WORKSPACE_DIR: root.dir,
      SANDBOX_COMMAND_TIMEOUT_MS: "60000",
      // Production's lease and stall times: a loaded 2-core machine must not look like dead workers.
      JOB_LOCK_MS: "30000",
      JOB_STALLED_INTERVAL_MS: "30000",
    },
  });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      webLog.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false }, log: createLogger("warn", stream) });
  for (let i = 0; i < WORKERS; i++) workers.push(spawnForgebot(["worker"], env));
  // Ready once every worker listens on both queues (tsx compiles the sources first).
  await waitFor(
    "every worker process to listen on both queues",
    async () => {
      const dead = workers.find((w) => w.child.exitCode !== null);
      if (dead) throw new Error(`a worker exited: ${dead.output()}`);
      const [lifecycle, sessions] = await Promise.all([web.bot.queues.lifecycle.getWorkersCount(), web.bot.queues.sessions.getWorkersCount()]);
      return lifecycle >= WORKERS && sessions >= WORKERS;
    },
    60_000,
  );
}, 90_000);

afterAll(async () => {
  await sampler?.stop();
  await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
  await web?.stop();
  await model?.stop();
  await github?.stop();
  await database?.drop();
  root.remove();
});

describe(`${TOTAL} mention deliveries across ${REPOS} repositories on ${WORKERS} worker processes while ${CHANGES} change sessions run`, () => {
  it("are all acknowledged, answered exactly once, drain the queues with no error, and hold Postgres connections within the documented bound", async () => {
    const t0 = Date.now();
    // The change sessions go first; the load starts once all of them run.
    const changeStarted = new Map<number, number>();
    for (let k = 0; k < CHANGES; k++) {
      changeStarted.set(k, Date.now());
      await startChange(k);
    }
    await waitFor("every change session to run", async () => {
      const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE flow = 'change' AND status = 'running'");
      return rows[0]!.n === CHANGES;
    }, 60_000);

    const all = deliveries();
    expect(all).toHaveLength(TOTAL);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const latencies: number[] = [];
    const chatReplies = () => github.comments.filter((c) => c.body.includes("forgebot:reply") && c.number < 900).length;
    const loadStart = Date.now();
    let next = 0;
    const client = async () => {
      while (next < all.length) {
        const d = all[next++]!;
        const started = performance.now();
        try {
          const status = await post(d.id, d.body);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        } catch (err: unknown) {
          failures.push(String(err));
        }
        latencies.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const ackedAt = Date.now();
    expect(failures).toEqual([]);
    expect(Object.fromEntries(statuses)).toEqual({ 202: TOTAL });

    await waitFor("every chat mention's reply", () => chatReplies() >= UNIQUE, 90_000);
    const answeredAt = Date.now();
    const changeReplies = () => github.comments.filter((c) => c.body.includes("forgebot:reply") && c.number >= 900);
    await waitFor("every change session's reply", () => changeReplies().length >= CHANGES, 60_000);
    // Nothing more will happen: queues drained, and a reconciler pass finds nothing owed.
    const passes = await waitForQuiet(web, { timeoutMs: 60_000 });
    const quietAt = Date.now();
    await sampler.stop();

    // Nothing was lost along the way: the first reconciler pass found no work the queue had dropped.
    expect(passes).toEqual([{ skipped: false, mentions: [], runs: [], deliveries: [] }]);
    const pending = ["waiting", "active", "delayed", "prioritized", "waiting-children", "failed"] as const;
    for (const queue of [web.bot.queues.lifecycle, web.bot.queues.sessions]) {
      const counts = await queue.getJobCounts(...pending);
      expect({ queue: queue.name, ...counts }).toEqual({ queue: queue.name, ...Object.fromEntries(pending.map((s) => [s, 0])) });
    }

    // One session and one reply per distinct comment; redeliveries and copies created nothing.
    const { rows: sessions } = await database.db.query<{ id: number; repo_path: string; flow: string; status: string; prompt: string; reply_note_id: string | null; trigger_comment_id: string }>(
      "SELECT id, repo_path, flow, status, prompt, reply_note_id, trigger_comment_id FROM sessions ORDER BY id",
    );
    const chats = sessions.filter((s) => s.flow === "chat");
    const changes = sessions.filter((s) => s.flow === "change");
    expect({ chats: chats.length, changes: changes.length, total: sessions.length }).toEqual({ chats: UNIQUE, changes: CHANGES, total: UNIQUE + CHANGES });
    expect(new Set(sessions.map((s) => s.trigger_comment_id)).size).toBe(sessions.length);
    expect(chats.filter((s) => s.status !== "finished" || !s.reply_note_id)).toEqual([]);
    expect(sessions.filter((s) => s.status === "failed")).toEqual([]);
    const { rows: [deliveryRows] } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries");
    expect(deliveryRows!.n).toBe(UNIQUE * 3 + CHANGES);
    // Every repository got its share: 20 chat sessions each.
    const perRepo = new Map<string, number>();
    for (const s of chats) perRepo.set(s.repo_path, (perRepo.get(s.repo_path) ?? 0) + 1);
    expect(Object.fromEntries(perRepo)).toEqual(Object.fromEntries(repos.map((r) => [r.full_name, UNIQUE / REPOS])));

    // On the forge: each chat thread holds exactly one reply (ever posted, not only live), with its own tag.
    const wrong: string[] = [];
    for (let i = 0; i < UNIQUE; i++) {
      const repo = repos[i % REPOS]!.full_name;
      const number = 1 + Math.floor(i / REPOS);
      const posted = github.comments.filter((c) => c.repo === repo && c.number === number && c.body.includes("forgebot:reply"));
      if (posted.length !== 1 || posted[0]!.deleted || !posted[0]!.body.includes(`Echo tag-${i}.`)) wrong.push(`${repo}#${number}: ${posted.length} replies`);
    }
    expect(wrong).toEqual([]);
    expect(github.comments.filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(UNIQUE + CHANGES);
    expect(github.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
    // The fake answered every request for every repository.
    expect(github.unrouted).toEqual([]);

    // The change sessions ended waiting for approval, each with its patch and its one command run
    // in the sandbox, overlapping the load.
    const changeFigures: { session: number; repo: string; sleepS: number; commandMs: number; untilReplyMs: number }[] = [];
    for (const s of changes) {
      const k = Number(/change-session-(\d+)/.exec(s.prompt)![1]);
      expect({ k, repo: s.repo_path, status: s.status, replied: Boolean(s.reply_note_id) }).toEqual({ k, repo: repos[k]!.full_name, status: "plan_approval_required", replied: true });
      const posted = changeReplies().filter((c) => c.repo === s.repo_path && c.number === 900 + k);
      expect(posted).toHaveLength(1);
      expect(posted[0]!.body).toContain(`Change ${k} done;`);
      expect(posted[0]!.body).toContain("Reply `@forgebot apply` to open a draft pull request with this change.");
      expect(posted[0]!.body).toContain("+  return a - b;");
      const { rows: commands } = await database.db.query<{ command: string; status: string; outcome: string; exit_code: number; duration_ms: number; started_at: Date; finished_at: Date }>(
        "SELECT command, status, outcome, exit_code, duration_ms, started_at, finished_at FROM session_commands WHERE session_id = $1",
        [s.id],
      );
      expect(commands.map((c) => [c.command, c.status, c.outcome, c.exit_code])).toEqual([[`sh test.sh ${sleepOf(k)}`, "finished", "exit_zero", 0]]);
      const command = commands[0]!;
      expect(command.duration_ms).toBeGreaterThanOrEqual(sleepOf(k) * 1000);
      // The command ran while the load did.
      expect({ k, overlaps: command.started_at.getTime() < answeredAt && command.finished_at.getTime() > loadStart }).toEqual({ k, overlaps: true });
      changeFigures.push({ session: s.id, repo: s.repo_path, sleepS: sleepOf(k), commandMs: command.duration_ms, untilReplyMs: new Date(posted[0]!.createdAt).getTime() - changeStarted.get(k)! });
    }

    // No error logged by any process.
    const output = [...workers.map((w) => w.output()), webLog.join("\n")].join("\n");
    expect(logLines(output, 50)).toEqual([]);

    // Postgres connections: README's "Sizing Postgres" — each process at most DATABASE_POOL_MAX
    // plus one LISTEN connection — for the four processes, at every sample.
    const poolMax = loadConfig(env).databasePoolMax;
    const bound = PROCESSES * (poolMax + 1);
    const samples = sampler.samples;
    expect(sampler.errors).toEqual([]);
    // The sampler watched the whole run (about one sample each SAMPLE_MS, at least every second).
    expect(samples.length).toBeGreaterThan((quietAt - t0) / 1000);
    const max = (key: keyof Omit<Sample, "at">) => Math.max(...samples.map((s) => s[key]));
    expect(max("listen")).toBeLessThanOrEqual(PROCESSES);
    expect(max("pool")).toBeLessThanOrEqual(PROCESSES * poolMax);
    expect({ bound, max: max("bot"), within: max("bot") <= bound }).toEqual({ bound, max: max("bot"), within: true });
    // Each process held connections (a sampler seeing none would prove nothing).
    expect(max("listen")).toBe(PROCESSES);

    const sorted = [...latencies].sort((a, b) => a - b);
    const figures = {
      deliveries: TOTAL,
      distinctMentions: UNIQUE,
      concurrency: CONCURRENCY,
      repositories: REPOS,
      workerProcesses: WORKERS,
      queue: "redis",
      changeSessions: CHANGES,
      changeApproval: "always",
      deliveriesPerSecond: round(TOTAL / ((ackedAt - loadStart) / 1000)),
      sessionsPerSecond: round(UNIQUE / ((answeredAt - loadStart) / 1000)),
      ackMs: { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1]!) },
      postgresConnections: { bound, formula: `${PROCESSES} × (DATABASE_POOL_MAX ${poolMax} + 1)`, maxObserved: max("bot"), maxPool: max("pool"), maxListen: max("listen"), maxWithTestPool: max("total"), samples: samples.length },
      changeSessionsDetail: changeFigures,
      warnings: messages(logLines(output, 40)),
      ms: { changesRunning: loadStart - t0, acked: ackedAt - loadStart, answered: answeredAt - loadStart, quiet: quietAt - answeredAt, total: quietAt - t0 },
    };
    writeFigures("load-flows", figures);
  }, 240_000);
});
