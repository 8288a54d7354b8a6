import { createLogger } from "../../../src/logging/logger.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { errorText } from "../../../src/sessions/notes.js";
import { reapOnce, type ReapResult } from "../../../src/lifecycle/reaper.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { createPool, type Db } from "../../../src/storage/pool.js";
import { createReaperStore } from "../../../src/storage/reaper-store.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";
import { delta, scrape } from "./scrape.js";

/**
 * The reaper against real Postgres: the bot's own timer (every 100 ms) plus four more reapers
 * on their own connection pools, all racing for the same rows.
 */
const HEARTBEAT_TIMEOUT_MS = 30 * 60_000;
let database: TestDatabase;
let bot: TestBot;
let fake: FakeGitHub;
let pools: Db[] = [];
let commentId = 7_200_000;
let releaseStuck: () => void = () => undefined;

/** `stuck` blocks like a model call that never answers (its worker is alive but silent). */
const flow: Flow = {
  name: "chat",
  async run(session) {
    if (session.prompt === "stuck") await new Promise<void>((resolve) => (releaseStuck = resolve));
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

/** Posts a mention; resolves with the session it created. */
async function mention(prompt: string): Promise<number> {
  const id = ++commentId;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = id;
    p.comment.body = `@forgebot ${prompt}`;
  });
  const body = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `d-${id}`, body), body });
  expect(res.status).toBe(202);
  return sessionId(id);
}

async function sessionId(triggerCommentId: number): Promise<number> {
  const row = await waitFor("the session", async () => (await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE trigger_comment_id = $1", [String(triggerCommentId)])).rows[0]);
  return row.id;
}

async function events(id: number, kind: string): Promise<Record<string, unknown>[]> {
  const { rows } = await database.db.query<{ data: Record<string, unknown> }>("SELECT data FROM session_events WHERE session_id = $1 AND kind = $2 ORDER BY id", [id, kind]);
  return rows.map((r) => r.data);
}

/** Four reapers on four pools, started at the same instant, `rounds` times over. */
async function raceReapers(rounds: number): Promise<ReapResult[]> {
  const stores = pools.map((pool) => createReaperStore(pool));
  const results: ReapResult[] = [];
  for (let i = 0; i < rounds; i++) {
    results.push(...(await Promise.all(stores.map((store) => reapOnce(bot.bot.deps, store, { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS })))));
  }
  return results;
}

const replies = () => fake.comments.filter((c) => c.body.includes("forgebot:reply"));

beforeAll(async () => {
  database = await createTestDatabase();
  pools = Array.from({ length: 4 }, () => createPool(database.url, { max: 2, log: createLogger("silent") }));
  bot = await startTestBot({ databaseUrl: database.url, flows: [flow], env: { REAPER_INTERVAL_MS: "100" } });
});

afterAll(async () => {
  releaseStuck();
  await bot.stop();
  await Promise.all(pools.map((p) => p.end()));
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
});

describe("the reaper", () => {
  it("fails a running session with a stale heartbeat and answers it exactly once, however many reapers race", async () => {
    const id = await mention("stuck");
    await waitFor("the session running", async () => (await bot.bot.deps.sessions.getSession(id)).status === "running");
    const fresh = await raceReapers(1);
    expect(fresh.flatMap((r) => r.timedOut)).toEqual([]);

    const before = await scrape(bot.baseUrl);
    await database.db.query("UPDATE sessions SET updated_at = now() - interval '31 minutes' WHERE id = $1", [id]);
    const raced = await raceReapers(5);

    const reply = await waitFor("the timeout reply", () => replies().find((c) => !c.deleted));
    expect(reply.body).toContain(errorText("timeout"));
    const session = await bot.bot.deps.sessions.getSession(id);
    expect({ status: session.status, errorReason: session.errorReason }).toEqual({ status: "failed", errorReason: "timeout" });
    expect(await events(id, "status")).toEqual([
      { from: "created", to: "running", event: "start", run: 1 },
      { from: "running", to: "failed", event: "drop", reason: "timeout", by: "reaper" },
    ]);
    expect(await events(id, "error")).toHaveLength(1);
    // The bot's timer or one of the four won; nobody else saw the session.
    const claimedHere = raced.flatMap((r) => r.timedOut);
    expect(claimedHere.length).toBeLessThanOrEqual(1);
    const after = await waitFor("the reply counted", async () => {
      const s = await scrape(bot.baseUrl);
      return delta(before, s, "forgebot_deliveries_total", { forge: "github", outcome: "posted" }) === 1 ? s : null;
    });
    expect(delta(before, after, "forgebot_reaper_actions_total", { action: "session_timed_out" })).toBe(1);
    expect(delta(before, after, "forgebot_session_transitions_total", { status: "failed" })).toBe(1);
    expect(fake.comments.find((c) => c.body.includes("forgebot:started"))?.deleted).toBe(true);

    // The stuck call finally returns: the run cannot finish a failed session, and no second reply goes out.
    releaseStuck();
    await waitFor("the run to end", async () => {
      const [runs, lifecycle] = await Promise.all([
        bot.bot.queues.sessions.getJobCounts("active", "completed"),
        bot.bot.queues.lifecycle.getJobCounts("active", "waiting", "prioritized", "delayed"),
      ]);
      return runs.active === 0 && runs.completed === 1 && Object.values(lifecycle).every((n) => n === 0);
    });
    expect((await bot.bot.deps.sessions.getSession(id)).status).toBe("failed");
    expect(replies()).toHaveLength(1);
    expect(fake.writes().filter((w) => w.method === "POST" && JSON.stringify(w.body).includes("forgebot:reply"))).toHaveLength(1);
  });

  it("removes a started note left behind after the reply, once, without answering again", async () => {
    let refuse = true;
    fake.interceptors.push((r) => (r.method === "DELETE" && refuse ? [502, { message: "Bad Gateway" }] : undefined));
    const start = await scrape(bot.baseUrl);
    const id = await mention("leave the note");
    const before = await waitFor("the reply counted", async () => {
      const s = await scrape(bot.baseUrl);
      return delta(start, s, "forgebot_deliveries_total", { forge: "github", outcome: "posted" }) === 1 ? s : null;
    });
    expect(replies()).toHaveLength(1);
    await waitFor("the failed deletion recorded", async () => (await events(id, "started_note_delete_failed")).length === 1);
    const started = fake.comments.find((c) => c.body.includes("forgebot:started"))!;
    expect(started.deleted).toBe(false);

    // Within the grace period the session's own delivery owns the note: nobody touches it.
    refuse = false;
    expect((await raceReapers(1)).flatMap((r) => r.deliveriesRetried)).toEqual([]);

    await database.db.query("UPDATE sessions SET updated_at = now() - interval '11 minutes' WHERE id = $1", [id]);
    await raceReapers(3);
    // The bot's own reaper may be the one that wins the claim: wait for its deletion to be counted.
    const after = await waitFor("the deletion counted", async () => {
      const s = await scrape(bot.baseUrl);
      return delta(before, s, "forgebot_started_note_deletions_total", { forge: "github", outcome: "deleted" }) === 1 ? s : null;
    });
    expect(started.deleted).toBe(true);

    expect(await events(id, "reaper_delivery_retry")).toEqual([{ run: 1, notePending: true, replyMissing: false }]);
    expect(delta(before, after, "forgebot_reaper_actions_total", { action: "delivery_retried" })).toBe(1);
    expect(delta(before, after, "forgebot_started_note_deletions_total", { forge: "github", outcome: "deleted" })).toBe(1);
    expect(delta(before, after, "forgebot_deliveries_total", { forge: "github", outcome: "posted" })).toBe(0);
    expect(replies()).toHaveLength(1);
    expect((await bot.bot.deps.sessions.getSession(id)).startedNoteDeletedAt).not.toBeNull();
  });
});
