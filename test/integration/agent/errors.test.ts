import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { errorText, type ErrorReason } from "../../../src/sessions/notes.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI, type FakeReply } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let model: FakeOpenAI;
let delivery = 0;
let commentId = 8_000_000;
let issue = 200;

async function mention(number: number, body: string): Promise<void> {
  const id = ++commentId;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.issue.number = number;
    p.comment.id = id;
    p.comment.body = body;
    p.comment.created_at = new Date().toISOString();
  });
  const text = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `err-${++delivery}`, text), body: text });
  expect(res.status).toBe(202);
}

async function sessionIn(number: number) {
  const { rows } = await database.db.query("SELECT id, status, error_reason FROM sessions WHERE thread_number = $1", [number]);
  return rows[0] as { id: number; status: string; error_reason: string } | undefined;
}

/** Nothing of the session is left running: no job, no open model request. */
async function expectNothingRunning(): Promise<void> {
  await waitFor("idle queues and model", async () => {
    const counts = await bot.bot.queues.sessions.getJobCounts("active", "waiting", "delayed");
    return model.inFlight === 0 && counts.active === 0 && counts.waiting === 0 && counts.delayed === 0;
  });
}

async function expectFixedReply(reply: FakeReply | ((n: number) => FakeReply), reason: ErrorReason): Promise<void> {
  const number = ++issue;
  model.script = (r) => (typeof reply === "function" ? reply(r.toolResults) : reply);
  await mention(number, "@forgebot summarize this issue");
  const posted = await waitFor(`${reason} reply`, () => github.live({ number }).find((c) => c.body.includes("forgebot:reply")));
  expect(posted.body).toContain(errorText(reason));
  expect(await sessionIn(number)).toMatchObject({ status: "failed", error_reason: reason });
  expect(github.comments.filter((c) => c.number === number && c.body.includes("forgebot:started")).every((c) => c.deleted)).toBe(true);
  await expectNothingRunning();
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      AGENT_MODEL_TIMEOUT_MS: "1500",
      AGENT_MAX_STEPS: "3",
      AGENT_MAX_TOKENS: "1000",
    },
  });
});

afterAll(async () => {
  await bot.stop();
  await model.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  github = new FakeGitHub();
  nockGitHub(github);
  model.requests.length = 0;
});

describe("provider errors and limits end in fixed replies", () => {
  it.each([
    [401, "model_unavailable"],
    [429, "rate_limited"],
    [500, "model_unavailable"],
  ] as const)("HTTP %i from the provider → %s", async (status, reason) => {
    await expectFixedReply({ kind: "error", status }, reason);
    expect(model.requests).toHaveLength(1);
  });

  it("a model call that never answers times out", async () => {
    await expectFixedReply({ kind: "hang" }, "timeout");
    expect(model.requests).toHaveLength(1);
  });

  it("an empty answer is no response", async () => {
    await expectFixedReply({ kind: "text", text: "" }, "no_response");
  });

  it("a session that keeps calling tools stops at the step limit", async () => {
    await expectFixedReply({ kind: "tools", calls: [{ name: "list_directory", input: { path: "" } }], usage: { input: 10, output: 1 } }, "max_steps");
    expect(model.requests).toHaveLength(3);
  });

  it("a session over its token budget stops at the token limit", async () => {
    await expectFixedReply({ kind: "tools", calls: [{ name: "list_directory", input: { path: "" } }], usage: { input: 900, output: 200 } }, "max_tokens");
    expect(model.requests).toHaveLength(1);
  });

  it("stop aborts the in-flight model call and saves a checkpoint", async () => {
    const number = ++issue;
    model.script = () => ({ kind: "hang" });
    await mention(number, "@forgebot take your time");
    await waitFor("a model call in flight", () => model.inFlight === 1);
    await mention(number, "@forgebot stop");
    const posted = await waitFor("stopped reply", () => github.live({ number }).find((c) => c.body.includes("forgebot:reply")));
    expect(posted.body).toContain(errorText("stopped"));
    await expectNothingRunning();
    const session = await sessionIn(number);
    expect(session?.status).toBe("stopped");
    const { rows } = await waitFor("interrupted checkpoint", async () => {
      const result = await database.db.query("SELECT kind, delta FROM checkpoints WHERE session_id = $1 ORDER BY seq", [session!.id]);
      return result.rows.length === 2 ? result : null;
    });
    expect(rows.map((r) => r.kind)).toEqual(["start", "interrupted"]);
    expect(rows[1].delta).toMatchObject({ kind: "interrupted", reason: "stopped" });
  });
});
