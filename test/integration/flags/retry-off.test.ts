import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { createGateStore } from "../../../src/flags/gate-store.js";
import { RETRY_NOT_ALLOWED_TEXT } from "../../../src/sessions/notes.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";
import { delta, scrape } from "../observability/scrape.js";

/**
 * `@forgebot retry` when manual_retry is off for the asker: one fixed line, no session, and no
 * model request (it used to become a chat prompt). `help` lists retry only when it is on.
 * Runs the real chat flow against a scripted model, so a model call would show.
 */

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let model: FakeOpenAI;
let commentId = 9_100_000;

async function mention(body: string, issue: number): Promise<string> {
  const id = ++commentId;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.issue.number = issue;
    p.comment.id = id;
    p.comment.body = body;
  });
  const text = JSON.stringify(payload);
  const deliveryId = `retry-off-${id}`;
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", deliveryId, text), body: text });
  expect(res.status).toBe(202);
  return deliveryId;
}

async function processed(deliveryId: string): Promise<string> {
  return waitFor(`delivery ${deliveryId}`, async () => {
    const { rows } = await database.db.query<{ status: string }>("SELECT status FROM webhook_deliveries WHERE delivery_key = $1", [deliveryId]);
    return rows[0] && rows[0].status !== "received" ? rows[0].status : null;
  });
}

async function sessionCount(): Promise<number> {
  return (await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions")).rows[0]!.n;
}

async function setRetry(enabled: boolean): Promise<void> {
  await createGateStore(database.db).setBoolean("manual_retry", enabled);
  await waitFor(`manual_retry ${enabled}`, async () => (await bot.bot.flags.isEnabled("manual_retry", "github:codertocat")) === enabled, 5000);
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI(() => ({ kind: "text", text: "a model answer" })).start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: { OPENAI_BASE_URL: model.baseUrl, OPENAI_MODEL: "fake-model", OPENAI_API_KEY: "test-key", AGENT_MODEL_RETRIES: "0" },
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

describe("@forgebot retry with manual_retry off", () => {
  it("answers one fixed line, creates no session and asks no model", async () => {
    await setRetry(false);
    const before = await scrape(bot.baseUrl);
    const sessions = await sessionCount();
    expect(await processed(await mention("@forgebot retry", 61))).toBe("retry_refused");

    const notes = github.live({ number: 61 });
    expect(notes).toHaveLength(1);
    const [line, ...rest] = notes[0]!.body.split("\n").filter((l) => l.trim() !== "");
    expect(line).toBe(RETRY_NOT_ALLOWED_TEXT);
    expect(rest).toEqual(["<!-- forgebot:notice retry delivery=retry-off-9100001 -->"]);
    expect(model.requests).toEqual([]);
    expect(await sessionCount()).toBe(sessions);
    const after = await scrape(bot.baseUrl);
    expect(delta(before, after, "forgebot_retries_total", { origin: "command", outcome: "not_allowed" })).toBe(1);

    // The same once there is a session to retry: the flag is asked first.
    await setRetry(true);
    await processed(await mention("@forgebot say hello", 62));
    await waitFor("the first reply", () => github.live({ number: 62 }).find((c) => c.body.includes("forgebot:reply")));
    const asked = model.requests.length;
    expect(asked).toBeGreaterThan(0);
    await setRetry(false);
    expect(await processed(await mention("@forgebot retry", 62))).toBe("retry_refused");
    expect(github.live({ number: 62 }).filter((c) => c.body.startsWith(RETRY_NOT_ALLOWED_TEXT))).toHaveLength(1);
    expect(model.requests).toHaveLength(asked);
  });

  it("help lists retry only when it is on for the asker", async () => {
    await setRetry(false);
    await processed(await mention("@forgebot help", 63));
    const off = await waitFor("help reply", () => github.live({ number: 63 }).find((c) => c.body.includes("forgebot:reply")));
    expect(off.body).toContain("`@forgebot stop`");
    expect(off.body).not.toContain("retry");

    await setRetry(true);
    await processed(await mention("@forgebot help", 64));
    const on = await waitFor("help reply", () => github.live({ number: 64 }).find((c) => c.body.includes("forgebot:reply")));
    expect(on.body).toContain("`@forgebot retry` runs the previous session's request again.");
    expect(model.requests).toEqual([]);
  });

  it("help lists change and apply only when code_changes is on for the asker or the repository", async () => {
    await processed(await mention("@forgebot help", 65));
    const off = await waitFor("help reply", () => github.live({ number: 65 }).find((c) => c.body.includes("forgebot:reply")));
    expect(off.body).not.toContain("`@forgebot change");
    expect(off.body).not.toContain("`@forgebot apply`");

    await database.db.query("INSERT INTO feature_gates (flag_name, gate_kind, value) VALUES ('code_changes', 'actors', 'github:repo:codertocat/hello-world') ON CONFLICT DO NOTHING");
    await processed(await mention("@forgebot help", 66));
    const on = await waitFor("help reply", () => github.live({ number: 66 }).find((c) => c.body.includes("forgebot:reply")));
    expect(on.body).toContain("`@forgebot change <request>` makes the change in a sandboxed copy of the repository");
    expect(on.body).toContain("`@forgebot apply` then opens it as a draft pull request");
    // Asking for help is not a refusal.
    const refusals = await fetch(`${bot.baseUrl}/metrics`).then((r) => r.text());
    expect(refusals).not.toMatch(/forgebot_permission_refusals_total\{[^}]*reason="flag_off"[^}]*\} [1-9]/);
  });
});
