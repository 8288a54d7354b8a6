import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { gitlabPayload } from "../fixtures/gitlab/payloads.js";
import { MAX_PROMPT_CHARS } from "../../src/lifecycle/intake.js";
import type { Flow } from "../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../helpers/fake-gitlab.js";
import { signedHeaders } from "../helpers/github-app.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../helpers/nock-gitlab.js";
import { githubExample } from "../helpers/payloads.js";
import { waitForQuiet } from "../helpers/quiet.js";

/**
 * Hostile and odd input on both webhook endpoints: the answer is never a 5xx, the process keeps
 * serving, and every valid mention among the noise is answered exactly once.
 */
const GITLAB_SECRET = "gitlab-hook-secret";
const MAX_BYTES = 2 * 1024 * 1024;

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo (${session.prompt.length} chars)` };
  },
};

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let gitlab: FakeGitLab;
let n = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  github = await new FakeGitHub().start();
  gitlab = new FakeGitLab();
  nockGitLab(gitlab);
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      GITLAB_URL: FAKE_GITLAB_URL,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: GITLAB_SECRET,
      GITLAB_NOTES_PER_MINUTE: "10000",
      ...UNLIMITED_WRITES,
      GITLAB_DELETES_PER_MINUTE: "100000",
      MAX_WEBHOOK_BYTES: String(MAX_BYTES),
    },
  });
});

afterAll(async () => {
  await bot?.stop();
  await github?.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

type Send = { body: string | Buffer; headers: Record<string, string> };

async function post(endpoint: "github" | "gitlab", send: Send): Promise<number> {
  const res = await fetch(`${bot.baseUrl}/api/${endpoint}/webhooks`, { method: "POST", headers: send.headers, body: send.body });
  await res.arrayBuffer();
  return res.status;
}

async function githubSigned(body: string, overrides: Record<string, string | null> = {}): Promise<Send> {
  const headers: Record<string, string> = await signedHeaders("issue_comment", `bad-${++n}`, body);
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  return { body, headers };
}

function gitlabSend(body: string, overrides: Record<string, string | null> = {}): Send {
  const headers: Record<string, string> = { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": GITLAB_SECRET, "idempotency-key": `bad-${++n}` };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  return { body, headers };
}

const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
const githubMention = (text: string, id: number) =>
  JSON.stringify(githubExample("issue_comment", "created", (p) => {
    p.comment.body = text;
    p.comment.id = id;
    p.comment.created_at = new Date().toISOString();
  }));
const gitlabMention = (text: string, id: number) =>
  JSON.stringify(gitlabPayload("note-issue.docs-example", (p) => {
    p.object_attributes.id = id;
    p.object_attributes.note = text;
  }));

describe("bad input on /api/github/webhooks", () => {
  const cases: [string, () => Promise<Send>][] = [
    ["malformed JSON (validly signed)", () => githubSigned('{"action": "created", "comment": ')],
    ["an empty body", async () => ({ ...(await githubSigned("x")), body: "" })],
    ["a JSON array", () => githubSigned("[1,2,3]")],
    ["wrong content type", async () => githubSigned(githubMention("@forgebot hi", 1), { "content-type": "text/plain" })],
    ["form encoding", async () => githubSigned("payload=%7B%7D", { "content-type": "application/x-www-form-urlencoded" })],
    ["no signature", async () => githubSigned(githubMention("@forgebot hi", 2), { "x-hub-signature-256": null })],
    ["a wrong signature", async () => githubSigned(githubMention("@forgebot hi", 3), { "x-hub-signature-256": `sha256=${"0".repeat(64)}` })],
    ["no event header", async () => githubSigned(githubMention("@forgebot hi", 4), { "x-github-event": null })],
    ["no delivery header", async () => githubSigned(githubMention("@forgebot hi", 5), { "x-github-delivery": null })],
    ["an unknown event", async () => githubSigned(githubMention("@forgebot hi", 6), { "x-github-event": "no_such_event" })],
    ["deeply nested JSON (100 000 levels)", () => githubSigned(deep(100_000))],
    ["a valid envelope with wrong field types", () => githubSigned(JSON.stringify({ action: "created", comment: { body: 42, user: "x" }, issue: [], repository: null }))],
    ["invalid UTF-8", async () => ({ ...(await githubSigned("x")), body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) })],
  ];
  it.each(cases)("%s is refused without a 5xx and creates no session", async (_name, make) => {
    const status = await post("github", await make());
    expect(status).toBeGreaterThanOrEqual(200);
    expect(status).toBeLessThan(500);
  });

  it("a body over MAX_WEBHOOK_BYTES is answered 413", async () => {
    const status = await post("github", await githubSigned("x".repeat(MAX_BYTES + 1024)));
    expect(status).toBe(413);
  });
});

describe("bad input on /api/gitlab/webhooks", () => {
  const cases: [string, () => Send][] = [
    ["malformed JSON", () => gitlabSend('{"object_kind": "note", ')],
    ["an empty body", () => gitlabSend("")],
    ["wrong content type", () => gitlabSend(gitlabMention("@forgebot hi", 91), { "content-type": "text/plain" })],
    ["no token", () => gitlabSend(gitlabMention("@forgebot hi", 92), { "x-gitlab-token": null })],
    ["a wrong token", () => gitlabSend(gitlabMention("@forgebot hi", 93), { "x-gitlab-token": "nope" })],
    ["no event header", () => gitlabSend(gitlabMention("@forgebot hi", 94), { "x-gitlab-event": null })],
    ["deeply nested JSON (100 000 levels)", () => gitlabSend(deep(100_000))],
    ["wrong field types", () => gitlabSend(JSON.stringify({ object_kind: "note", object_attributes: { note: 5 }, project: "x" }))],
  ];
  it.each(cases)("%s is refused without a 5xx", async (_name, make) => {
    const status = await post("gitlab", make());
    expect(status).toBeGreaterThanOrEqual(200);
    expect(status).toBeLessThan(500);
  });

  it("a body over MAX_WEBHOOK_BYTES is answered 413", async () => {
    expect(await post("gitlab", gitlabSend("x".repeat(MAX_BYTES + 1024)))).toBe(413);
  });
});

describe("after the noise", () => {
  it("no session was created by refused input and the process still serves", async () => {
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
    expect(rows[0]!.n).toBe(0);
    expect((await fetch(`${bot.baseUrl}/healthz`)).status).toBe(200);
  });

  it("RTL, zero-width and 1 MB comments on both forges are each answered once, the long one truncated with a notice", async () => {
    const rtl = "@forgebot \u202Eترجم هذا\u202C \u200B\u200C\u200D\uFEFF please \u2067שלום\u2069";
    const huge = `@forgebot summarise ${"long text ".repeat(105_000)}`; // ~1 MB
    expect(huge.length).toBeGreaterThan(1_000_000);
    const sends: ["github" | "gitlab", Send][] = [
      ["github", await githubSigned(githubMention(rtl, 501))],
      ["github", await githubSigned(githubMention(huge, 502))],
      ["gitlab", gitlabSend(gitlabMention(rtl, 601))],
      ["gitlab", gitlabSend(gitlabMention(huge, 602))],
    ];
    for (const [endpoint, send] of sends) expect(await post(endpoint, send)).toBe(202);

    const replies = () => [...github.live().filter((c) => c.body.includes("forgebot:reply")).map((c) => c.body), ...gitlab.botNotes({ live: true }).filter((c) => c.body.includes("forgebot:reply")).map((c) => c.body)];
    await waitFor("four replies", () => replies().length === 4, 30_000);
    const { rows } = await database.db.query<{ forge: string; prompt: string; status: string }>("SELECT forge, prompt, status FROM sessions ORDER BY id");
    expect(rows).toHaveLength(4);
    expect(rows.every((r) => r.status === "finished")).toBe(true);
    const long = rows.filter((r) => r.prompt.length > MAX_PROMPT_CHARS);
    expect(long).toHaveLength(2);
    for (const r of long) {
      expect(r.prompt).toContain("[truncated: showing the first 20000 of");
      expect(r.prompt.length).toBeLessThan(MAX_PROMPT_CHARS + 200);
    }
    const short = rows.filter((r) => r.prompt.length <= MAX_PROMPT_CHARS);
    // The RTL and zero-width characters reach the session as data, untouched.
    expect(short.map((r) => r.prompt.includes("\u202E") && r.prompt.includes("שלום"))).toEqual([true, true]);
    await waitForQuiet(bot);
    expect(replies()).toHaveLength(4);
    expect(github.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
    expect(gitlab.botNotes({ live: true }).filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
  });

  it("a comment holding a NUL character is answered once on both forges (stored with U+FFFD in its place)", async () => {
    const text = "@forgebot explain a\u0000b NUL-CASE";
    expect(await post("github", await githubSigned(githubMention(text, 701)))).toBe(202);
    expect(await post("gitlab", gitlabSend(gitlabMention(text, 702)))).toBe(202);
    await waitFor("both sessions finished", async () => {
      const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE prompt LIKE '%NUL-CASE%' AND status = 'finished'");
      return rows[0]!.n === 2;
    }, 30_000);
    const { rows } = await database.db.query<{ prompt: string }>("SELECT prompt FROM sessions WHERE prompt LIKE '%NUL-CASE%'");
    expect(rows.map((r) => r.prompt)).toEqual(["explain a\uFFFDb NUL-CASE", "explain a\uFFFDb NUL-CASE"]);
  });
});
