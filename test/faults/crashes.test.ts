import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { FakeOpenAI } from "../helpers/fake-openai.js";
import { signedHeaders } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../helpers/processes.js";
import { waitForQuiet } from "../helpers/quiet.js";

/**
 * 50 agent sessions (two model steps each, the first calling a read tool) run on three
 * `forgebot worker` processes while one of them is SIGKILLed at a random moment every
 * 0.3–0.8 s and replaced: kills land while mentions are accepted, started notes posted, model
 * calls in flight, checkpoints written, notes deleted and replies posted. Afterwards every
 * session has exactly one reply, no started note is left, and no step recorded in a checkpoint
 * was asked of the model again.
 */
const SESSIONS = 50;
const WORKERS = 3;
const MAX_KILLS = 14;

let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let web: TestBot;
let env: Record<string, string>;
const workers: BotProcess[] = [];
const all: BotProcess[] = [];
/** Model requests: session tag, step, arrival time. */
const asked: { tag: string; step: number; at: number }[] = [];

// A seeded generator keeps a failing run reproducible (the seed is printed on failure).
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);
let state = SEED;
const random = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

function spawnWorker(): BotProcess {
  const p = spawnForgebot(["worker"], env);
  all.push(p);
  return p;
}

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  github.files.set("README.md", "# Hello\n");
  model = await new FakeOpenAI().start();
  model.script = (r) => {
    const tag = /crash-session-(\d+)/.exec(r.raw)?.[1] ?? "?";
    asked.push({ tag, step: r.toolResults + 1, at: Date.now() });
    return r.toolResults === 0 ? { kind: "tools", calls: [{ name: "list_directory", input: { path: "" } }] } : { kind: "text", text: `Done ${tag}.` };
  };
  env = testEnv({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      QUEUE_PREFIX: uniquePrefix(),
      LOG_LEVEL: "error",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      ...UNLIMITED_WRITES,
      RECONCILE_INTERVAL_MS: "1000",
      RECONCILE_GRACE_MS: "5000",
    },
  });
  web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
});

afterAll(async () => {
  await Promise.all(all.map((w) => stopProcess(w, "SIGKILL")));
  await web?.stop();
  await model?.stop();
  await github?.stop();
  await database?.drop();
});

describe(`${SESSIONS} sessions while worker processes are SIGKILLed at random points`, () => {
  it("each end with exactly one reply, no started note left and no recorded step asked again", async () => {
    for (let i = 0; i < WORKERS; i++) workers.push(spawnWorker());
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      while (killing && kills < MAX_KILLS) {
        await new Promise((r) => setTimeout(r, 300 + random() * 500));
        if (!killing) break;
        const index = Math.floor(random() * workers.length);
        workers[index]!.child.kill("SIGKILL");
        kills++;
        workers[index] = spawnWorker();
      }
    })();

    // Mentions arrive in waves, so kills meet sessions in every phase.
    for (let i = 0; i < SESSIONS; i++) {
      const payload = githubExample("issue_comment", "created", (p) => {
        p.comment.id = 800_000 + i;
        p.comment.body = `@forgebot walk the repository crash-session-${i}`;
        p.comment.created_at = new Date().toISOString();
        p.issue.number = 1 + i; // one thread each: thread memory would mix sessions
      });
      const body = JSON.stringify(payload);
      const res = await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `crash-${i}`, body), body });
      expect(res.status).toBe(202);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 400 + random() * 600));
    }

    const replies = () => github.comments.filter((c) => c.body.includes("forgebot:reply"));
    try {
      await waitFor("every session's reply", () => replies().length >= SESSIONS, 75_000);
    } finally {
      killing = false;
      await killer;
    }
    // A duplicate would come from a stalled job run again or a row the reconciler finds owed: wait
    // until the queues (this web process shares the workers' prefix) are drained and nothing is owed.
    await waitForQuiet(web, { timeoutMs: 60_000 });

    const context = `seed ${SEED}, ${kills} kills`;
    expect({ context, kills: kills >= 5 }).toEqual({ context, kills: true });
    expect({ context, replies: replies().length, live: github.live().filter((c) => c.body.includes("forgebot:reply")).length }).toEqual({ context, replies: SESSIONS, live: SESSIONS });
    expect({ context, startedLeft: github.live().filter((c) => c.body.includes("forgebot:started")).length }).toEqual({ context, startedLeft: 0 });

    const { rows: sessions } = await database.db.query<{ id: number; prompt: string; status: string; reply_note_id: string | null }>("SELECT id, prompt, status, reply_note_id FROM sessions ORDER BY id");
    expect(sessions).toHaveLength(SESSIONS);
    expect(sessions.filter((s) => s.status !== "finished" || !s.reply_note_id)).toEqual([]);
    const replyBodies = replies().map((c) => c.body);
    for (const s of sessions) {
      const tag = /crash-session-(\d+)/.exec(s.prompt)![1]!;
      expect(replyBodies.filter((b) => b.includes(`Done ${tag}.`))).toHaveLength(1);
    }

    // Checkpoint chains are whole (start, step 1, step 2) and no step was asked after it was recorded.
    const { rows: checkpoints } = await database.db.query<{ session_id: number; seq: number; kind: string; at: Date; prompt: string }>(
      "SELECT c.session_id, c.seq, c.kind, c.created_at AS at, s.prompt FROM checkpoints c JOIN sessions s ON s.id = c.session_id ORDER BY c.session_id, c.seq",
    );
    const late: string[] = [];
    for (const s of sessions) {
      const tag = /crash-session-(\d+)/.exec(s.prompt)![1]!;
      const chain = checkpoints.filter((c) => c.session_id === s.id);
      expect(chain.map((c) => `${c.seq}:${c.kind}`)).toEqual(["1:start", "2:step", "3:step"]);
      for (const step of [1, 2]) {
        const recordedAt = chain.find((c) => c.seq === step + 1)!.at.getTime();
        const after = asked.filter((a) => a.tag === tag && a.step === step && a.at > recordedAt);
        if (after.length) late.push(`session ${s.id} step ${step} asked ${after.length}× after its checkpoint`);
      }
    }
    expect({ context, late }).toEqual({ context, late: [] });
    // Each kill can lose at most the steps in flight on that worker (its session concurrency).
    const repeats = asked.length - SESSIONS * 2;
    expect(repeats).toBeGreaterThanOrEqual(0);
    expect(repeats).toBeLessThanOrEqual(kills * 10);

    killing = false;
  }, 100_000);
});
