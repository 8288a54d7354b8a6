import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createLogger } from "../../../src/logging/logger.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { openSetup, type SetupPage } from "../../helpers/setup-flow.js";
import { postForm } from "../../helpers/sign-in.js";

/**
 * First run with GitLab (issue 17): the setup page gives the webhook URL and a secret token to
 * paste, "Check" asks GitLab (a fake on loopback, GITLAB_URL) who a pasted token belongs to and
 * stores nothing, "Check and save" stores it sealed and the bot answers GitLab webhooks at once.
 */

const PUBLIC_URL = "http://forgebot.test";

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let fake: FakeGitLab;
let bot: TestBot;
let page: SetupPage;
const logLines: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitLab().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    env: { APP_ID: "", PRIVATE_KEY: "", WEBHOOK_SECRET: "", BOT_HANDLE: "", GITLAB_URL: fake.url, PUBLIC_URL, GITLAB_NOTES_PER_MINUTE: "10000" },
    log: createLogger("debug", { write: (line: string) => void logLines.push(line) }),
  });
});

afterAll(async () => {
  await bot?.stop();
  await fake?.stop();
  await database?.drop();
});

beforeEach(async () => {
  page = await openSetup(bot.baseUrl, { path: "/" });
  fake.tokenScopes = ["api"];
  fake.interceptors = [];
});

function submit(action: "check" | "save", gitlabToken: string, form: SetupPage = page): Promise<Response> {
  return postForm(`${bot.baseUrl}/setup/gitlab`, { token: form.gitlabToken!, gitlab_token: gitlabToken, webhook_secret: form.gitlabSecret!, action }, { cookie: form.cookie });
}

async function stored(): Promise<number> {
  return (await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM forge_credentials")).rows[0]!.n;
}

let noteIds = 61_000;

async function hook(secret: string): Promise<{ res: Response; noteId: number }> {
  const noteId = ++noteIds;
  const payload = gitlabPayload("note-issue.docs-example", (p) => {
    p.object_attributes.id = noteId;
    p.object_attributes.note = "@forgebot what changed?";
    p.object_attributes.discussion_id = `d${noteId}`.padEnd(40, "0");
  });
  fake.seedNote({ id: noteId, projectId: payload.project.id, noteable: "issues", iid: payload.issue.iid, body: payload.object_attributes.note, discussionId: payload.object_attributes.discussion_id });
  const res = await fetch(`${bot.baseUrl}/api/gitlab/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": secret, "idempotency-key": `setup-${noteId}` },
    body: JSON.stringify(payload),
  });
  return { res, noteId };
}

describe("first run with GitLab", () => {
  it("shows the exact webhook URL, a generated secret token that a reload keeps, and the scope to create", async () => {
    expect(page.html).toContain(`<code class="copy">${PUBLIC_URL}/api/gitlab/webhooks</code>`);
    expect(page.gitlabSecret).toMatch(/^[\w-]{43}$/);
    expect(page.html).toContain(`<code class="copy">${page.gitlabSecret}</code>`);
    expect(page.html).toContain("with the scope <code>api</code>");
    expect(page.html).toContain(fake.url);
    expect((await openSetup(bot.baseUrl, { cookie: page.cookie })).gitlabSecret).toBe(page.gitlabSecret);
    expect((await openSetup(bot.baseUrl)).gitlabSecret).not.toBe(page.gitlabSecret);
  });

  it("Check with a good token names the token's user and its scopes, and stores nothing", async () => {
    const res = await submit("check", FAKE_GITLAB_TOKEN);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`The token works: it belongs to @forgebot (user 990) on ${fake.url}, scopes api.`);
    expect(html).not.toContain(FAKE_GITLAB_TOKEN);
    expect(fake.requests.filter((r) => r.path === "/user" && r.token === FAKE_GITLAB_TOKEN).length).toBeGreaterThan(0);
    expect(await stored()).toBe(0);
    expect((await hook(page.gitlabSecret!)).res.status).toBe(503);
  });

  it("Check with a bad token says GitLab refused it, and never echoes it", async () => {
    const res = await submit("check", "glpat-not-a-real-token-000");
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("GitLab refused the token (status 401)");
    expect(html).not.toContain("glpat-not-a-real-token-000");
    const save = await submit("save", "glpat-not-a-real-token-000");
    expect(save.status).toBe(400);
    expect(await stored()).toBe(0);
  });

  it("Check refuses a token without the api scope, tolerates a GitLab that cannot tell, and says when GitLab is down", async () => {
    fake.tokenScopes = ["read_api", "read_user"];
    const scoped = await submit("check", FAKE_GITLAB_TOKEN);
    expect(scoped.status).toBe(400);
    expect(await scoped.text()).toContain("has the scopes read_api, read_user, not api");
    fake.tokenScopes = null;
    const unknown = await submit("check", FAKE_GITLAB_TOKEN);
    expect(unknown.status).toBe(200);
    expect(await unknown.text()).toContain("its scopes could not be read");
    fake.interceptors = [(r) => (r.path === "/user" ? [502, "<html>Bad Gateway</html>"] : undefined)];
    const down = await submit("check", FAKE_GITLAB_TOKEN);
    expect(down.status).toBe(400);
    expect(await down.text()).toContain("answered GET /api/v4/user with status 502");
    expect(await stored()).toBe(0);
  });

  it("refuses a form from another site or another browser", async () => {
    const other = await openSetup(bot.baseUrl);
    const foreign = await postForm(`${bot.baseUrl}/setup/gitlab`, { token: other.gitlabToken!, gitlab_token: FAKE_GITLAB_TOKEN, webhook_secret: page.gitlabSecret!, action: "save" }, { cookie: page.cookie });
    expect(foreign.status).toBe(403);
    const crossSite = await postForm(`${bot.baseUrl}/setup/gitlab`, { token: page.gitlabToken!, gitlab_token: FAKE_GITLAB_TOKEN, webhook_secret: page.gitlabSecret!, action: "save" }, { cookie: page.cookie, "sec-fetch-site": "cross-site" });
    expect(crossSite.status).toBe(403);
    expect(await stored()).toBe(0);
  });

  it("Check and save stores the token sealed and answers GitLab webhooks with the pasted secret at once; the secrets stay out of pages and logs", async () => {
    const secret = page.gitlabSecret!;
    const res = await submit("save", FAKE_GITLAB_TOKEN);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("forgebot is connected to GitLab");
    const { rows } = await database.db.query("SELECT forge, details, sealed, stored_by FROM forge_credentials");
    expect(rows).toEqual([{ forge: "gitlab", details: { url: fake.url, host: new URL(fake.url).host, userId: "990", username: "forgebot" }, sealed: expect.any(Buffer), stored_by: "first_run" }]);
    expect(rows[0].sealed.toString("latin1")).not.toContain(FAKE_GITLAB_TOKEN);

    expect((await hook("wrong-secret")).res.status).toBe(401);
    const { res: accepted, noteId } = await hook(secret);
    expect(accepted.status).toBe(202);
    const started = await waitFor("the started note", () => fake.botNotes().find((n) => n.body.includes("forgebot:started")));
    expect(started.discussionId).toBe(`d${noteId}`.padEnd(40, "0"));
    await waitFor("the reply", () => fake.botNotes({ live: true }).find((n) => n.body.includes("Echo: what changed?")));

    const texts: string[] = [];
    for (const [path, headers] of [["/", {}], ["/", { accept: "application/json" }], ["/setup", {}]] as [string, Record<string, string>][]) {
      const r = await fetch(`${bot.baseUrl}${path}`, { headers });
      texts.push(`${path} ${r.status} ${await r.text()}`);
    }
    expect(texts[0]).toContain("answers <code>@forgebot</code>");
    expect(texts[0]).toContain("bot user @forgebot");
    expect(texts[2]).toMatch(/^\/setup 409 /);
    texts.push(...logLines);
    expect(logLines.some((l) => l.includes("GitLab connected on the setup page"))).toBe(true);
    for (const value of [FAKE_GITLAB_TOKEN, secret]) expect(texts.filter((t) => t.includes(value))).toEqual([]);
  });
});
