import { createLogger } from "../../../src/logging/logger.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { helpFlow } from "../../../src/agent/flows/help.js";
import { NO_USAGE } from "../../../src/agent/models/usage.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { createCheckpointStore } from "../../../src/storage/checkpoint-store.js";
import { createPool, type Db } from "../../../src/storage/pool.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";
import { TcpProxy } from "../../helpers/tcp-proxy.js";
import { delta, scrape, sum, value, type Samples } from "./scrape.js";

/**
 * One session through the whole lifecycle, with `/metrics` scraped before, during and after:
 * each counter must move by exactly what the session did. Then the two forced failures the
 * SLOs watch: a started-note deletion GitHub refuses, and a checkpoint write whose Postgres
 * connection is cut (a transport failure).
 */
let database: TestDatabase;
let bot: TestBot;
let fake: FakeGitHub;
let proxy: TcpProxy;
let proxiedDb: Db;
let commentId = 7_100_000;
let release: (() => void) | null = null;

const flow: Flow = {
  name: "chat",
  async run(session) {
    if (session.prompt === "hold") await new Promise<void>((resolve) => (release = resolve));
    if (session.prompt === "checkpoint") {
      // The real checkpoint store on a connection through the proxy: one write, then the cut.
      const store = createCheckpointStore(proxiedDb);
      const write = (seq: number) =>
        store.append({
          sessionId: session.id,
          seq,
          parentSeq: seq === 1 ? null : seq - 1,
          delta: { kind: "start", run: 1, messages: [], history: [] },
          model: null,
          usage: NO_USAGE,
          session: { usage: {} },
        });
      await write(1);
      proxy.cut();
      await write(2);
    }
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

async function mention(prompt: string): Promise<number> {
  const id = ++commentId;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = id;
    p.comment.body = `@forgebot ${prompt}`;
  });
  const body = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `d-${id}`, body), body });
  expect(res.status).toBe(202);
  return id;
}

/** Scrapes until `ready` holds (counters move just after the forge write the test can see). */
async function scrapeUntil(what: string, ready: (s: Samples) => boolean): Promise<Samples> {
  let last: Samples = new Map();
  await waitFor(what, async () => ready((last = await scrape(bot.baseUrl))));
  return last;
}

const GH = { forge: "github" };

beforeAll(async () => {
  database = await createTestDatabase();
  proxy = await TcpProxy.for(database.url).start();
  proxiedDb = createPool(proxy.rewrite(database.url), { max: 2, log: createLogger("silent") });
  // pg emits a lost connection as an 'error' event on a checked-out client as well as failing its
  // query; pg-pool listens only while the client is idle, so without this the event is uncaught.
  proxiedDb.on("connect", (client) => client.on("error", () => undefined));
  bot = await startTestBot({ databaseUrl: database.url, flows: [flow, helpFlow] });
});

afterAll(async () => {
  await bot.stop();
  await proxiedDb.end().catch(() => undefined);
  await proxy.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
});

describe("/metrics over a session's lifecycle", () => {
  it("moves each lifecycle counter by exactly what one session did", async () => {
    const before = await scrape(bot.baseUrl);
    await mention("hold");

    // While the flow runs: the session gauge and the queue gauge read it live.
    const during = await scrapeUntil("a running session", (s) => value(s, "forgebot_sessions", { status: "running" }) === 1);
    expect(value(during, "forgebot_sessions", { status: "created" })).toBe(0);
    expect(value(during, "forgebot_queue_jobs", { queue: "sessions", state: "active" })).toBe(1);
    expect(value(during, "forgebot_session_heartbeat_age_seconds", { status: "running" })).toBeGreaterThanOrEqual(0);
    expect(during.has('forgebot_queue_jobs{queue="lifecycle",state="waiting"}')).toBe(true);
    // The status turns running just before the flow starts holding: release only once it holds.
    (await waitFor("the flow to hold", () => release))();

    const after = await scrapeUntil("the reply counted", (s) => delta(before, s, "forgebot_deliveries_total", { ...GH, outcome: "posted" }) === 1);
    expect(fake.live().filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(1);

    const moved = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect({
      webhookAccepted: moved("forgebot_webhooks_received_total", { ...GH, event: "issue_comment", outcome: "accepted" }),
      running: moved("forgebot_session_transitions_total", { status: "running" }),
      finished: moved("forgebot_session_transitions_total", { status: "finished" }),
      failed: moved("forgebot_session_transitions_total", { status: "failed" }),
      durationObserved: moved("forgebot_session_duration_seconds_count", { ...GH, status: "finished" }),
      startedNoteLatencyObserved: moved("forgebot_started_note_latency_seconds_count", GH),
      replyPosted: moved("forgebot_deliveries_total", { ...GH, outcome: "posted" }),
      replyFailed: moved("forgebot_deliveries_total", { ...GH, outcome: "failed" }),
      noteDeleted: moved("forgebot_started_note_deletions_total", { ...GH, outcome: "deleted" }),
      noteDeleteFailed: moved("forgebot_started_note_deletions_total", { ...GH, outcome: "failed" }),
      trackedErrors: sum(after, "forgebot_tracked_errors_total") - sum(before, "forgebot_tracked_errors_total"),
    }).toEqual({
      webhookAccepted: 1,
      running: 1,
      finished: 1,
      failed: 0,
      durationObserved: 1,
      startedNoteLatencyObserved: 1,
      replyPosted: 1,
      replyFailed: 0,
      noteDeleted: 1,
      noteDeleteFailed: 0,
      trackedErrors: 0,
    });
    // Every request GitHub saw was counted once, as ok.
    expect(fake.requests.length).toBeGreaterThanOrEqual(5);
    expect(moved("forgebot_forge_requests_total", { ...GH, outcome: "ok" })).toBe(fake.requests.length);
    expect(sum(after, "forgebot_forge_requests_total") - sum(before, "forgebot_forge_requests_total")).toBe(fake.requests.length);
    // The session has ended: no session is running any more.
    expect(value(after, "forgebot_sessions", { status: "running" })).toBe(0);
  });

  it("counts a started-note deletion GitHub refuses, and still replies", async () => {
    fake.interceptors.push((r) => (r.method === "DELETE" ? [500, { message: "Internal Server Error" }] : undefined));
    const before = await scrape(bot.baseUrl);
    await mention("delete will fail");

    const after = await scrapeUntil("the reply counted", (s) => delta(before, s, "forgebot_deliveries_total", { ...GH, outcome: "posted" }) === 1);
    expect({
      noteDeleteFailed: delta(before, after, "forgebot_started_note_deletions_total", { ...GH, outcome: "failed" }),
      noteDeleted: delta(before, after, "forgebot_started_note_deletions_total", { ...GH, outcome: "deleted" }),
      trackedDeleteErrors: delta(before, after, "forgebot_tracked_errors_total", { phase: "started_note_delete" }),
      forgeServerErrors: delta(before, after, "forgebot_forge_requests_total", { ...GH, outcome: "server_error" }),
    }).toEqual({ noteDeleteFailed: 1, noteDeleted: 0, trackedDeleteErrors: 1, forgeServerErrors: 1 });
    expect(fake.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);
    expect(fake.live().filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(1);
  });

  it("counts a checkpoint write whose Postgres connection is cut as an error", async () => {
    const before = await scrape(bot.baseUrl);
    await mention("checkpoint");

    // The write failing fails the flow: the session ends failed and the error reply goes out.
    const after = await scrapeUntil("the error reply counted", (s) => delta(before, s, "forgebot_deliveries_total", { ...GH, outcome: "posted" }) === 1);
    proxy.restore();
    expect({
      writesOk: delta(before, after, "forgebot_checkpoint_operations_total", { op: "write", outcome: "ok" }),
      writeErrors: delta(before, after, "forgebot_checkpoint_operations_total", { op: "write", outcome: "error" }),
      failed: delta(before, after, "forgebot_session_transitions_total", { status: "failed" }),
      finished: delta(before, after, "forgebot_session_transitions_total", { status: "finished" }),
    }).toEqual({ writesOk: 1, writeErrors: 1, failed: 1, finished: 0 });
    const reply = fake.live().find((c) => c.body.includes("forgebot:reply"));
    expect(reply?.body).toContain("Something went wrong on forgebot's side");
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM checkpoints");
    expect(rows[0]!.n).toBe(1);
  });
});
