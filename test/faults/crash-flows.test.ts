import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { readdirSync } from "node:fs";
import { replyMarker, startedMarker } from "../../src/sessions/notes.js";
import { startTestBot, testEnv, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { enableChanges, NEW_INDEX, workspaceRoot } from "../helpers/change-session.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { FakeOpenAI } from "../helpers/fake-openai.js";
import { FakeRepo } from "../helpers/fake-repo.js";
import { signedHeaders } from "../helpers/github-app.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../helpers/processes.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { BASE, HEAD } from "../integration/review/fixtures.js";
import { killsByPhase, lateAsks, recordedSteps, runWindows, writeFailureReport, type SessionRow } from "./crash-flows-checks.js";
import {
  firstMention,
  FLOW_REPO,
  flowsScript,
  MATH_AFTER,
  mentionPayload,
  RAN_LOG_LINE,
  REVIEW_FILES,
  REVIEW_INLINE_COMMENTS,
  STEPS_PER_SESSION,
  tagOf,
  TEST_COMMAND,
  THREAD_BASE,
  type Asked,
  type FlowKind,
} from "./crash-flows-fixtures.js";
import { writeFigures } from "./support.js";

/**
 * 50 sessions of three kinds — 20 chat, 15 review, 15 change — run on three `forgebot worker`
 * processes while, every 0.3–0.8 s, one that has started (never the last one up) is SIGKILLed
 * and replaced. Each change session's approval reply is answered with `@forgebot apply` as soon
 * as it appears, so kills also land in publishes. Afterwards: one reply per run, one review per
 * review session, one branch, commit, pull request and `published` event per published change,
 * no started note left, no workspace left on disk, no sandboxed command run twice, no recorded
 * step asked of the model again, and the queues never moved to another namespace. Figures go to
 * test-artifacts/faults/crash-flows.json (FAULT_SEED replays a run, FAULT_KILLS caps the kills).
 */
const COUNTS: Record<FlowKind, number> = { chat: 20, review: 15, change: 15 };
const KINDS = Object.keys(COUNTS) as FlowKind[];
const SESSIONS = KINDS.reduce((n, k) => n + COUNTS[k], 0);
const WORKERS = 3;
const MAX_KILLS = Number(process.env.FAULT_KILLS ?? 24);
const REPO = "Codertocat/Hello-World";

let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const root = workspaceRoot();
type Worker = { process: BotProcess; spawnedAt: number; bootMs?: number };
const workers: Worker[] = [];
const all: BotProcess[] = [];
const asked: Asked[] = [];

// Seeded generators keep a failing run reproducible (the seed is printed on failure): one for the
// kills, one for the order and pace of the mentions, so neither shifts the other's sequence.
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);
function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker; `bootMs` is set once it logged that it started (killing one still loading its modules tests nothing). */
function spawnWorker(): Worker {
  const p = spawnForgebot(["worker"], env);
  all.push(p);
  const worker: Worker = { process: p, spawnedAt: Date.now() };
  const onData = () => {
    if (!p.output().includes('"msg":"forgebot started"')) return;
    worker.bootMs = Date.now() - worker.spawnedAt;
    p.child.stdout?.off("data", onData);
  };
  p.child.stdout?.on("data", onData);
  return worker;
}

const started = (w: Worker) => w.bootMs !== undefined;

let delivery = 0;
async function mention(kind: FlowKind, i: number, body: string, commentId: number): Promise<void> {
  const text = JSON.stringify(mentionPayload(kind, i, body, commentId));
  const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `crash-flows-${++delivery}`, text), body: text });
  await res.arrayBuffer();
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  database = await createTestDatabase();
  // Sandbox users are 200000 + id % 50000: ids far from other test files' keep their process limits apart.
  await database.db.query(`ALTER SEQUENCE sessions_id_seq RESTART WITH ${45_000 + (process.pid % 4_000)}`);
  github = await new FakeGitHub().start();
  github.files.set("README.md", "# Calculator\n");
  github.repo = FakeRepo.from(FLOW_REPO);
  for (let i = 0; i < COUNTS.review; i++) {
    github.threads.set(`${REPO}#${THREAD_BASE.review + i}`, { title: `Numbers ${tagOf("review", i)}`, body: "", author: "octo", headSha: HEAD, baseSha: BASE, files: REVIEW_FILES });
  }
  model = await new FakeOpenAI(flowsScript(asked)).start();
  env = testEnv({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: "info",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      // Sizes a review's groups: these files make two.
      AGENT_MAX_TOKENS: "36000",
      WORKSPACE_DIR: root.dir,
      ...UNLIMITED_WRITES,
      RECONCILE_INTERVAL_MS: "1000",
      RECONCILE_GRACE_MS: "5000",
      // The periodic workspace sweep stays off: what is checked is that the flows remove their own.
      REAPER_INTERVAL_MS: "3600000",
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env: { ...env, LOG_LEVEL: "error" }, roles: { web: true, workers: false } });
  await enableChanges(database.db, `github:repo:${REPO.toLowerCase()}`);
});

afterAll(async () => {
  await Promise.all(all.map((w) => stopProcess(w, "SIGKILL")));
  await web?.stop();
  await model?.stop();
  await github?.stop();
  await database?.drop();
  root.remove();
});

async function sessionRows(): Promise<SessionRow[]> {
  const { rows } = await database.db.query<SessionRow>("SELECT id, flow, status, run_seq, thread_number, reply_note_id, prompt FROM sessions ORDER BY id");
  return rows;
}

describe(`${SESSIONS} chat, review and change sessions while worker processes are SIGKILLed at random points`, () => {
  it("each run answers once, each review and publish happens once, and nothing is left or done twice", async () => {
    const t0 = Date.now();
    const killRandom = seeded(SEED);
    const trafficRandom = seeded(SEED + 1);
    for (let i = 0; i < WORKERS; i++) workers.push(spawnWorker());
    const kills: { at: number; age: number }[] = [];
    const replaced: Worker[] = [];
    let idleTicks = 0;
    let killing = true;
    const killer = (async () => {
      while (killing && kills.length < MAX_KILLS) {
        await sleep(300 + killRandom() * 500);
        if (!killing) break;
        const up = workers.filter(started);
        const pick = killRandom();
        // The last worker up is spared: sessions go on between kills, so kills land in every phase of their work.
        if (up.length < 2) {
          idleTicks++;
          continue;
        }
        const victim = up[Math.floor(pick * up.length)]!;
        victim.process.child.kill("SIGKILL");
        kills.push({ at: Date.now(), age: Date.now() - victim.spawnedAt });
        replaced.push(victim);
        workers[workers.indexOf(victim)] = spawnWorker();
      }
    })();

    // Mentions of all three kinds, shuffled, in waves, so kills meet sessions in every phase.
    const order = KINDS.flatMap((kind) => Array.from({ length: COUNTS[kind] }, (_, i) => ({ kind, i })));
    for (let j = order.length - 1; j > 0; j--) {
      const k = Math.floor(trafficRandom() * (j + 1));
      [order[j], order[k]] = [order[k]!, order[j]!];
    }
    const applied = new Set<number>();
    const approvalOf = (i: number) => github.live({ number: THREAD_BASE.change + i }).find((c) => c.body.includes("forgebot:reply") && c.body.includes("Reply `@forgebot apply`"));
    let applying = true;
    // `@forgebot apply` once each change's approval reply is there, as a person would.
    const applier = (async () => {
      while (applying) {
        for (let i = 0; i < COUNTS.change; i++) {
          if (applied.has(i) || !approvalOf(i)) continue;
          applied.add(i);
          await mention("change", i, "@forgebot apply", 870_000 + i);
        }
        await sleep(100);
      }
    })();
    for (let n = 0; n < order.length; n++) {
      const { kind, i } = order[n]!;
      await mention(kind, i, firstMention(kind, i), 860_000 + THREAD_BASE[kind] + i);
      if (n % 10 === 9) await sleep(400 + trafficRandom() * 600);
    }

    let context = `seed ${SEED}`;
    try {
      await waitFor(
        "every session to end",
        async () => {
          const rows = await sessionRows();
          return rows.length === SESSIONS && rows.every((s) => ["finished", "failed", "stopped"].includes(s.status));
        },
        100_000,
      );
    } catch (err: unknown) {
      const stuck = (await sessionRows()).filter((row) => row.status !== "finished");
      await writeFailureReport(database.db, { seed: SEED, kills, stuck, workers: all });
      process.stderr.write(`${context}, ${kills.length} kills: ${JSON.stringify(stuck.map((row) => ({ id: row.id, flow: row.flow, status: row.status, run: row.run_seq })))}\n`);
      throw err;
    } finally {
      killing = false;
      applying = false;
      await Promise.all([killer, applier]);
    }
    const endedAt = Date.now();
    // A duplicate would come from a stalled job run again or a row the reconciler finds owed: wait
    // until the queues (this web process shares the workers' prefix) are drained and nothing is owed.
    let passes;
    try {
      passes = await waitForQuiet(web, { timeoutMs: 60_000 });
    } catch (err: unknown) {
      await writeFailureReport(database.db, { seed: SEED, kills, queues: [web.bot.queues.lifecycle, web.bot.queues.sessions], workers: all });
      process.stderr.write(`${context}, ${kills.length} kills: the queues did not drain (test-artifacts/faults/crash-flows-failure.json)\n`);
      throw err;
    }
    context = `seed ${SEED}, ${kills.length} kills`;

    const sessions = await sessionRows();
    const tags = new Map(sessions.map((s) => [s.id, /crash-(chat|review|change)-\d+/.exec(s.prompt)?.[0] ?? `?${s.id}`]));
    const comments = github.comments;
    const windows = runWindows(comments, sessions);
    const byPhase = killsByPhase(kills.map((k) => k.at), windows);
    const { rows: commands } = await database.db.query<{ id: string; session_id: string; command: string; status: string }>("SELECT id, session_id, command, status FROM session_commands ORDER BY id");
    const { rows: recovered } = await database.db.query<{ session_id: string; ids: number[] }>("SELECT session_id, delta->'data'->'commandIds' AS ids FROM checkpoints WHERE kind = 'recovered'");
    const cutShort = new Set(recovered.filter((r) => (r.ids ?? []).length > 0).map((r) => Number(r.session_id)));
    const cutIds = new Set(recovered.flatMap((r) => (r.ids ?? []).map(Number)));
    const late = lateAsks(sessions, tags, await recordedSteps(database.db, sessions), asked);
    const expected = KINDS.reduce((n, k) => n + COUNTS[k] * STEPS_PER_SESSION[k], 0);
    const repeats = asked.length - expected;
    // A worker still starting holds its sandbox self-test's directory in WORKSPACE_DIR for a moment.
    await waitFor("every worker to have started", () => workers.every(started), 30_000);
    const workspacesLeft = readdirSync(root.dir);
    const { rows: events } = await database.db.query<{ kind: string; n: string }>("SELECT kind, count(*) AS n FROM session_events GROUP BY kind ORDER BY kind");
    const writes = (pattern: RegExp) => github.requests.filter((r) => r.method === "POST" && pattern.test(r.path)).length;
    writeFigures("crash-flows", {
      seed: SEED,
      sessions: COUNTS,
      workers: WORKERS,
      kills: kills.length,
      killAgesMs: kills.map((k) => k.age),
      idleKillerTicks: idleTicks,
      workerBootMs: [...replaced, ...workers].filter(started).map((w) => w.bootMs),
      killsWhileInFlight: byPhase,
      durationMs: { toAllEnded: endedAt - t0, toQuiet: Date.now() - t0 },
      modelRequests: { total: asked.length, expected, repeats, askedAfterCheckpoint: late.length },
      commandsCutShort: { sessions: cutShort.size, finishedBeforeTheKill: commands.filter((c) => cutIds.has(Number(c.id)) && c.status === "finished").length },
      workspacesLeft,
      reconcilerPasses: passes.map((p) => ({ mentions: p.mentions.length, runs: p.runs.length, deliveries: p.deliveries.length })),
      forgeWrites: {
        startedNotesPosted: comments.filter((c) => c.body.includes("forgebot:started")).length,
        repliesPosted: comments.filter((c) => c.body.includes("forgebot:reply")).length,
        reviewPosts: writes(/\/pulls\/\d+\/reviews$/),
        blobs: writes(/\/git\/blobs$/),
        trees: writes(/\/git\/trees$/),
        commits: writes(/\/git\/commits$/),
        refs: writes(/\/git\/refs$/),
        pulls: writes(/\/pulls$/),
      },
      sessionEvents: Object.fromEntries(events.map((e) => [e.kind, Number(e.n)])),
    });

    // Every worker, however often replaced, consumed the queues the web process enqueues to.
    const { rows: installation } = await database.db.query<{ rotated_at: Date | null }>("SELECT rotated_at FROM installation");
    expect({ context, namespaceRotated: installation.map((r) => r.rotated_at !== null) }).toEqual({ context, namespaceRotated: [false] });

    // Every session ended well, the changes after their publish run.
    expect({ context, notFinished: sessions.filter((s) => s.status !== "finished" || !s.reply_note_id || s.run_seq !== (s.flow === "change" ? 2 : 1)).map((s) => `${s.id} ${s.flow} ${s.status} run ${s.run_seq}`) }).toEqual({ context, notFinished: [] });
    expect(KINDS.map((k) => sessions.filter((s) => s.flow === k).length)).toEqual(KINDS.map((k) => COUNTS[k]));
    expect([...new Set(tags.values())]).toHaveLength(SESSIONS);

    // Exactly one reply per run (posted once, never deleted), no started note left, no notice (every `apply` found its change).
    const problems: string[] = [];
    for (const s of sessions) {
      for (let run = 1; run <= s.run_seq; run++) {
        const posted = comments.filter((c) => c.body.includes(replyMarker(s.id, run)));
        if (posted.length !== 1 || posted[0]!.deleted || posted[0]!.number !== s.thread_number) problems.push(`${tags.get(s.id)} run ${run}: ${posted.length} replies posted (${posted.filter((c) => c.deleted).length} deleted)`);
        if (comments.some((c) => !c.deleted && c.body.includes(startedMarker(s.id, run)))) problems.push(`${tags.get(s.id)} run ${run}: started note left`);
      }
    }
    expect({ context, problems }).toEqual({ context, problems: [] });
    expect(github.live().filter((c) => c.body.includes("forgebot:started") || c.body.includes("forgebot:notice")).map((c) => c.body.slice(0, 120))).toEqual([]);
    const replyOf = (s: SessionRow, run = 1) => comments.find((c) => c.body.includes(replyMarker(s.id, run)))!.body;

    // Chat: the answer of its own session.
    for (const s of sessions.filter((x) => x.flow === "chat")) expect(replyOf(s)).toContain(`Done ${tags.get(s.id)}.`);

    // Review: one review on its pull request, every inline comment once, linked from the reply.
    for (const s of sessions.filter((x) => x.flow === "review")) {
      const reviews = github.reviews.filter((r) => r.number === s.thread_number);
      expect({ context, tag: tags.get(s.id), reviews: reviews.length }).toEqual({ context, tag: tags.get(s.id), reviews: 1 });
      const review = reviews[0]!;
      expect(review.body).toContain(`<!-- forgebot:review session=${s.id} -->`);
      expect(review.comments).toHaveLength(REVIEW_INLINE_COMMENTS);
      expect(new Set(review.comments.map((c) => `${c.path}:${c.side}:${c.start_line}-${c.line}`)).size).toBe(REVIEW_INLINE_COMMENTS);
      expect(replyOf(s)).toContain(`[the review](${review.html_url})`);
    }
    expect(github.reviews).toHaveLength(COUNTS.review);

    // Change: the approval, then after `apply` one branch with one commit and one draft pull request.
    const repo = github.repo!;
    const main = repo.branches.get("main")!;
    const pulls = github.openedPulls();
    const { rows: publishedEvents } = await database.db.query<{ session_id: string; run: number }>("SELECT session_id, (data->>'run')::int AS run FROM session_events WHERE kind = 'published' ORDER BY id");
    for (const s of sessions.filter((x) => x.flow === "change")) {
      const tag = tags.get(s.id)!;
      expect(replyOf(s, 1)).toContain("Reply `@forgebot apply` to open a draft pull request with this change.");
      const branches = repo.forgebotBranches().filter((b) => b.startsWith(`forgebot/${s.id}-`));
      expect({ context, tag, branches: branches.length }).toEqual({ context, tag, branches: 1 });
      const commits = repo.commitsBetween(main, repo.branches.get(branches[0]!)!);
      expect({ context, tag, commits: commits.length }).toEqual({ context, tag, commits: 1 });
      const [commit] = commits;
      expect(commit!.parents).toEqual([main]);
      expect(repo.text(commit!.sha, "src/index.js")).toBe(NEW_INDEX);
      expect(repo.text(commit!.sha, "src/math.js")).toBe(MATH_AFTER);
      const mine = pulls.filter((p) => p.head.ref === branches[0]);
      expect({ context, tag, pulls: mine.length }).toEqual({ context, tag, pulls: 1 });
      expect(mine[0]).toMatchObject({ base: { ref: "main" }, draft: true, state: "open" });
      expect(replyOf(s, 2)).toContain(`Opened draft pull request #${mine[0]!.number}`);
      // The session's timeline says so once, however often a killed publish was taken up again.
      expect({ context, tag, publishedInRuns: publishedEvents.filter((e) => Number(e.session_id) === s.id).map((e) => e.run) }).toEqual({ context, tag, publishedInRuns: [2] });
      // The test script was written ahead once and ran at most once: its line is in the commit once,
      // or (cut short by a kill and never run again) its effect was discarded.
      const own = commands.filter((c) => Number(c.session_id) === s.id);
      expect({ context, tag, commands: own.map((c) => c.command) }).toEqual({ context, tag, commands: [TEST_COMMAND] });
      const ranLog = repo.text(commit!.sha, "ran.log");
      expect({ context, tag, ranLog: ranLog ?? null }).toEqual({ context, tag, ranLog: cutShort.has(s.id) ? null : `${RAN_LOG_LINE}\n` });
    }
    expect(pulls).toHaveLength(COUNTS.change);
    expect(repo.forgebotBranches()).toHaveLength(COUNTS.change);
    expect(github.shapeRefusals()).toEqual([]);

    // No workspace left: every session has ended, and the periodic sweep is off.
    expect({ context, workspaces: workspacesLeft }).toEqual({ context, workspaces: [] });

    // No recorded step was asked of the model again.
    expect({ context, late }).toEqual({ context, late: [] });
    // Every step was asked; each kill can lose at most the steps in flight on its worker.
    expect(repeats).toBeGreaterThanOrEqual(0);
    expect(repeats).toBeLessThanOrEqual(kills.length * 10);
    expect({ context, enoughKills: kills.length >= Math.min(MAX_KILLS, 5) }).toEqual({ context, enoughKills: true });
    // The storm met every kind of run: some kill fell while one of each was between its started note and its reply.
    if (MAX_KILLS >= 5) expect({ context, byPhase: Object.values(byPhase).every((n) => n > 0) }).toEqual({ context, byPhase: true });

  }, 170_000);
});
