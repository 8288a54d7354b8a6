import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { parse as parseYaml } from "yaml";
import { createLogger } from "../../../src/logging/logger.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type FakeCreatedApp } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import {
  createOnFakeGitHub,
  githubCallback,
  openSetup,
  postGitHubForm,
  registerGitHubApp,
  SETUP_COOKIE,
  type SetupPage,
} from "../../helpers/setup-flow.js";
import { postForm, setCookie, signIn } from "../../helpers/sign-in.js";

/**
 * First run with GitHub (issue 17): a bot started with no forge serves the setup page; the
 * GitHub App manifest flow against a fake GitHub (a GHES on loopback) registers the app, and the
 * bot answers the app's webhooks without a restart. Every bad input is refused with a page and
 * stores nothing; the secrets GitHub issued appear nowhere but sealed in the database.
 */

const PUBLIC_URL = "http://forgebot.test";
const APP_NAME = "forgebot-setup-test";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let fake: FakeGitHub;
let bot: TestBot;
const logLines: string[] = [];
/** A page opened before anything was configured, and a flow started then by that browser. */
let firstPage: SetupPage;
let earlyFlow: { location: URL; cookie: string };

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    // No GitHub in the environment: the setup page configures it. No BOT_HANDLE: the handle is the
    // app's slug. Operators sign in with GitHub, through the app the setup page registers.
    env: { APP_ID: "", PRIVATE_KEY: "", WEBHOOK_SECRET: "", BOT_HANDLE: "", GHE_HOST: fake.host, GHE_PROTOCOL: "http", ADMIN_USERS: "github:codertocat", PUBLIC_URL },
    log: createLogger("debug", { write: (line: string) => void logLines.push(line) }),
  });
});

afterAll(async () => {
  await bot?.stop();
  await fake?.stop();
  await database?.drop();
});

async function storedCredentials(): Promise<{ forge: string; version: number; details: Record<string, unknown>; sealed: Buffer; stored_by: string }[]> {
  return (await database.db.query("SELECT forge, version, details, sealed, stored_by FROM forge_credentials ORDER BY forge")).rows;
}

let comments = 7_100_000;

async function mention(body: string, secret: string): Promise<Response> {
  const id = ++comments;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = id;
    p.comment.body = body;
    p.issue.number = 17;
  });
  const raw = JSON.stringify(payload);
  return fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `setup-${id}`, raw, secret), body: raw });
}

describe("first run with GitHub", () => {
  it("serves the setup page on GET / while no forge is configured, and answers webhooks 503", async () => {
    firstPage = await openSetup(bot.baseUrl, { path: "/" });
    expect(firstPage.res.status).toBe(200);
    expect(firstPage.res.headers.get("content-type")).toContain("text/html");
    expect(firstPage.res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(firstPage.html).toContain("Register forgebot on GitHub");
    expect(firstPage.html).toContain(`${PUBLIC_URL}/api/github/webhooks`);
    expect(firstPage.html).toContain("Connect forgebot to GitLab");
    expect(firstPage.githubToken).toMatch(/^[\w-]{43}$/);
    expect(setCookie(firstPage.res, SETUP_COOKIE)!.header).toMatch(/^forgebot_setup=[\w-]{43}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    // The same page at /setup; the browser keeps its cookie (and so its form tokens).
    const again = await openSetup(bot.baseUrl, { cookie: firstPage.cookie });
    expect(again.res.status).toBe(200);
    expect(setCookie(again.res, SETUP_COOKIE)).toBeUndefined();
    expect(again.githubToken).toBe(firstPage.githubToken);

    const json = await fetch(`${bot.baseUrl}/`, { headers: { accept: "application/json" } });
    expect(await json.json()).toEqual({ configured: false, setup: "/setup", forges: [] });
    const hook = await mention("@forgebot-setup-test hello", "anything");
    expect(hook.status).toBe(503);
    expect(((await hook.json()) as { error: string }).error).toContain("setup page");
  });

  it("sends app.yml's manifest with PUBLIC_URL filled in to the account's or the organization's new-app page, with a state bound to the browser", async () => {
    const personal = await postGitHubForm(bot.baseUrl, firstPage, { name: APP_NAME });
    expect(personal.res.status).toBe(200);
    const target = new URL(personal.action);
    expect(`${target.origin}${target.pathname}`).toBe(`http://${fake.host}/settings/apps/new`);
    const state = target.searchParams.get("state")!;
    expect(state).toMatch(/^[\w-]{43}$/);
    // The one form leaving the site may go to this GitHub, and nowhere else.
    expect(personal.res.headers.get("content-security-policy")).toContain(`form-action 'self' http://${fake.host};`);

    const appYml = parseYaml(readFileSync("app.yml", "utf8")) as { description: string; default_events: string[]; default_permissions: Record<string, string> };
    expect(personal.manifest).toEqual({
      name: APP_NAME,
      url: PUBLIC_URL,
      description: appYml.description,
      hook_attributes: { url: `${PUBLIC_URL}/api/github/webhooks`, active: true },
      redirect_url: `${PUBLIC_URL}/setup/github/callback`,
      callback_urls: [`${PUBLIC_URL}/auth/github/callback`],
      setup_url: `${PUBLIC_URL}/`,
      public: false,
      request_oauth_on_install: false,
      setup_on_update: false,
      default_events: appYml.default_events,
      default_permissions: appYml.default_permissions,
    });

    const org = await postGitHubForm(bot.baseUrl, firstPage, { name: APP_NAME, owner: "organization", org: "acme-corp" });
    expect(new URL(org.action).pathname).toBe("/organizations/acme-corp/settings/apps/new");
    // Only hashes are stored: neither the state nor the browser's cookie can be read back.
    const { rows } = await database.db.query<Record<string, unknown>>("SELECT * FROM setup_states ORDER BY created_at");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ state_hash: sha256(state), browser_hash: sha256(firstPage.cookie.split("=")[1]!), forge: "github", by_operator: false });
    expect(rows[0]!.target).toEqual({ name: APP_NAME, owner: "user", org: null, startedBy: "first_run" });
    expect(JSON.stringify(rows)).not.toContain(state);
    // Kept for later: this anonymous browser comes back after GitHub is configured.
    earlyFlow = { location: await createOnFakeGitHub(org), cookie: firstPage.cookie };
  });

  it("refuses bad forms: another site, no or a wrong form token, a bad app name or organization", async () => {
    const url = `${bot.baseUrl}/setup/github`;
    const fields = { token: firstPage.githubToken!, name: APP_NAME, owner: "user" };
    const before = (await database.db.query("SELECT count(*)::int AS n FROM setup_states")).rows[0].n;
    const crossSite = await postForm(url, fields, { cookie: firstPage.cookie, "sec-fetch-site": "cross-site", origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    const noCookie = await postForm(url, fields);
    expect(noCookie.status).toBe(403);
    const otherBrowser = await openSetup(bot.baseUrl);
    const wrongToken = await postForm(url, { ...fields, token: otherBrowser.githubToken! }, { cookie: firstPage.cookie });
    expect(wrongToken.status).toBe(403);
    expect(await wrongToken.text()).toContain("not valid for this browser");

    const badName = await postGitHubForm(bot.baseUrl, firstPage, { name: "" });
    expect(badName.res.status).toBe(400);
    expect(badName.html).toContain("The app name takes 1 to 34");
    const badOrg = await postGitHubForm(bot.baseUrl, firstPage, { name: APP_NAME, owner: "organization", org: "-nope-" });
    expect(badOrg.res.status).toBe(400);
    expect(badOrg.html).toContain("organization&#39;s login");
    expect(badOrg.html).toContain('value="-nope-"');
    expect((await database.db.query("SELECT count(*)::int AS n FROM setup_states")).rows[0].n).toBe(before);
  });

  it("refuses a forged, foreign or expired state, and a missing cookie, without exchanging the code", async () => {
    const page = await openSetup(bot.baseUrl);
    const flow = await postGitHubForm(bot.baseUrl, page, { name: APP_NAME });
    const location = await createOnFakeGitHub(flow);
    const code = location.searchParams.get("code")!;

    const forged = new URL(location);
    forged.searchParams.set("state", randomBytes(32).toString("base64url"));
    const forgedRes = await githubCallback(bot.baseUrl, forged, page.cookie);
    expect(forgedRes.status).toBe(400);
    expect(await forgedRes.text()).toContain("already used, has expired, or was not started in this browser");
    expect((await githubCallback(bot.baseUrl, location, null)).status).toBe(400);
    const foreign = await openSetup(bot.baseUrl);
    expect((await githubCallback(bot.baseUrl, location, foreign.cookie)).status).toBe(400);

    await database.db.query("UPDATE setup_states SET expires_at = now() - interval '1 second' WHERE state_hash = $1", [sha256(location.searchParams.get("state")!)]);
    const expired = await githubCallback(bot.baseUrl, location, page.cookie);
    expect(expired.status).toBe(400);
    expect(fake.manifestCodes.get(code)!.used).toBe(false);
    expect(fake.requests.filter((r) => r.path.includes("/app-manifests/"))).toHaveLength(0);
    expect(await storedCredentials()).toEqual([]);
  });

  it("stores nothing when GitHub refuses the code, or cannot answer", async () => {
    const page = await openSetup(bot.baseUrl);
    const location = await createOnFakeGitHub(await postGitHubForm(bot.baseUrl, page, { name: APP_NAME }));
    const wrong = new URL(location);
    wrong.searchParams.set("code", "0123456789abcdef0123");
    const refused = await githubCallback(bot.baseUrl, wrong, page.cookie);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("GitHub did not accept the registration code");
    expect(fake.requests.some((r) => r.path === "/api/v3/app-manifests/0123456789abcdef0123/conversions")).toBe(true);
    // The state was spent on that attempt: the right code cannot follow it.
    expect((await githubCallback(bot.baseUrl, location, page.cookie)).status).toBe(400);

    const down = await createOnFakeGitHub(await postGitHubForm(bot.baseUrl, page, { name: APP_NAME }));
    fake.interceptors.push((r) => (r.path.includes("/app-manifests/") ? [503, { message: "Service Unavailable" }] : undefined));
    try {
      const unavailable = await githubCallback(bot.baseUrl, down, page.cookie);
      expect(unavailable.status).toBe(502);
      expect(await unavailable.text()).toContain("Nothing was stored");
    } finally {
      fake.interceptors.length = 0;
    }
    expect(await storedCredentials()).toEqual([]);
    expect((await openSetup(bot.baseUrl, { path: "/" })).html).toContain("Register forgebot on GitHub");
    expect((await mention("@forgebot-setup-test hi", "anything")).status).toBe(503);
  });

  let app: FakeCreatedApp;

  it("registers the app and answers its signed webhooks without a restart; the callback cannot be replayed", async () => {
    const flow = await registerGitHubApp(bot.baseUrl, { fields: { name: APP_NAME } });
    expect(flow.res.status).toBe(200);
    expect(flow.text).toContain("forgebot is registered on GitHub");
    app = fake.createdApps[fake.createdApps.length - 1]!;
    expect(app.slug).toBe(APP_NAME);
    expect(flow.text).toContain(`href="${app.htmlUrl}/installations/new"`);
    expect(flow.text).toContain(`@${APP_NAME}`);

    const [row] = await storedCredentials();
    expect(row).toMatchObject({ forge: "github", version: 1, stored_by: "first_run" });
    expect(row!.details).toEqual({ host: fake.host, apiUrl: `http://${fake.host}/api/v3`, webUrl: `http://${fake.host}`, appId: String(app.id), slug: APP_NAME, clientId: app.clientId, htmlUrl: app.htmlUrl, owner: "Codertocat" });
    for (const secret of [app.webhookSecret, app.clientSecret, app.pem.split("\n")[3]!]) expect(row!.sealed.toString("latin1")).not.toContain(secret);

    // A wrong signature is still refused; the issued secret starts a session, whose reply follows.
    expect((await mention(`@${APP_NAME} hello`, "not-the-secret")).status).toBe(401);
    const accepted = await mention(`@${APP_NAME} hello from setup`, app.webhookSecret);
    expect(accepted.status).toBe(202);
    // The echo flow ends at once: the started note may be deleted again before the first look.
    const started = await waitFor("the started note", () => fake.comments.find((c) => c.body.includes("forgebot:started session=")));
    expect(started.body).toContain("Started session");
    await waitFor("the reply", () => fake.live().find((c) => c.body.includes("Echo: hello from setup")));
    // The app's installation token came from this fake, signed with the key GitHub issued.
    expect(fake.requests.some((r) => /\/app\/installations\/4242\/access_tokens$/.test(r.path))).toBe(true);

    const replay = await githubCallback(bot.baseUrl, flow.location, flow.cookie);
    expect(replay.status).toBe(400);
    expect((await storedCredentials())[0]!.version).toBe(1);
  });

  let operatorCookie: string;

  it("signs an operator in with GitHub through the registered app's own OAuth client, at once", async () => {
    const anonymous = await (await fetch(`${bot.baseUrl}/`)).text();
    expect(anonymous).toContain('href="/auth/github?return_to=%2F"');
    const signedIn = await signIn(bot.baseUrl, "github");
    operatorCookie = signedIn.cookie;
    expect(fake.requests.some((r) => r.path === "/login/oauth/access_token" && (r.body as Record<string, string>).client_id === app.clientId)).toBe(true);
    const status = await (await fetch(`${bot.baseUrl}/`, { headers: { cookie: operatorCookie } })).text();
    expect(status).toContain("Signed in as <strong>@Codertocat</strong>");
  });

  it("never shows a secret: not in pages, JSON, logs, the database (but sealed) or job data", async () => {
    const secrets = [app.webhookSecret, app.clientSecret, ...app.pem.split("\n").filter((l) => l.length > 40)];
    const admin = { cookie: operatorCookie };
    const texts: string[] = [];
    for (const [path, headers] of [
      ["/", {}],
      ["/", { accept: "application/json" }],
      ["/", admin],
      ["/", { ...admin, accept: "application/json" }],
      ["/setup", {}],
      ["/setup", admin],
      ["/sessions", admin],
    ] as [string, Record<string, string>][]) {
      const res = await fetch(`${bot.baseUrl}${path}`, { headers });
      texts.push(`${path} ${res.status} ${[...res.headers].join(" ")} ${await res.text()}`);
    }
    const anonymous = texts[0]!;
    expect(anonymous).toContain("forgebot is running");
    expect(anonymous).toContain(`answers <code>@${APP_NAME}</code>`);
    expect(anonymous).toContain("registered on the setup page");
    expect(anonymous).toContain("Operators (ADMIN_TOKEN, or a sign-in");
    expect(anonymous).not.toContain("/sessions/");
    const json = JSON.parse(texts[1]!.slice(texts[1]!.indexOf("{")));
    expect(json.forges).toEqual([
      expect.objectContaining({ forge: "github", origin: "setup", handle: APP_NAME, host: fake.host, app: { id: String(app.id), slug: APP_NAME, htmlUrl: app.htmlUrl, owner: "Codertocat" } }),
    ]);
    expect(json.queues.map((q: { name: string }) => q.name)).toEqual(["lifecycle", "sessions"]);
    expect(json.sessions).toBeUndefined();
    expect(texts[2]).toMatch(/<a href="\/sessions\/\d+\?sig=/);
    expect(JSON.parse(texts[3]!.slice(texts[3]!.indexOf("{"))).sessions).toHaveLength(1);

    const { rows: tables } = await database.db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    for (const { tablename } of tables) {
      const { rows } = await database.db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${tablename}" t`);
      texts.push(...rows.map((r) => `${tablename}: ${r.row}`));
    }
    for (const queue of Object.values(bot.bot.queues)) {
      for (const job of await queue.getJobs(["completed", "failed", "waiting", "active", "delayed", "prioritized"])) texts.push(JSON.stringify({ data: job.data, result: job.returnvalue }));
    }
    texts.push(...logLines);
    expect(logLines.some((l) => l.includes("GitHub App registered on the setup page"))).toBe(true);
    for (const secret of secrets) {
      const found = texts.filter((t) => t.includes(secret));
      expect(found).toEqual([]);
    }
  });

  it("refuses to run the setup routes again once configured, unless an operator asks; an operator's new app replaces the old one live", async () => {
    const setup = await fetch(`${bot.baseUrl}/setup`);
    expect(setup.status).toBe(409);
    expect(await setup.text()).toContain("To change the set-up, sign in as a user listed in ADMIN_USERS.");
    // Signed in, but not an operator: still refused.
    fake.oauthUser = { id: 583231, login: "octocat" };
    const outsider = await signIn(bot.baseUrl, "github");
    fake.oauthUser = { id: 21031067, login: "Codertocat" };
    expect((await fetch(`${bot.baseUrl}/setup`, { headers: { cookie: outsider.cookie } })).status).toBe(409);
    // The page opened before the set-up still holds valid form tokens: the routes refuse anyway.
    const post = await postGitHubForm(bot.baseUrl, firstPage, { name: APP_NAME });
    expect(post.res.status).toBe(409);
    const gitlab = await postForm(`${bot.baseUrl}/setup/gitlab`, { token: firstPage.gitlabToken!, gitlab_token: "glpat-whatever", webhook_secret: firstPage.gitlabSecret!, action: "save" }, { cookie: firstPage.cookie });
    expect(gitlab.status).toBe(409);
    // An anonymous flow started before GitHub was configured cannot finish now.
    const late = await githubCallback(bot.baseUrl, earlyFlow.location, earlyFlow.cookie);
    expect(late.status).toBe(409);
    expect(fake.manifestCodes.get(earlyFlow.location.searchParams.get("code")!)!.used).toBe(false);

    const operatorPage = await openSetup(bot.baseUrl, { cookie: operatorCookie });
    expect(operatorPage.res.status).toBe(200);
    expect(operatorPage.html).toContain("As an operator you may register again");
    const again = await registerGitHubApp(bot.baseUrl, { fields: { name: "forgebot-second" }, cookie: operatorCookie });
    expect(again.res.status).toBe(200);
    const second = fake.createdApps[fake.createdApps.length - 1]!;
    expect(second.slug).toBe("forgebot-second");
    expect(await storedCredentials()).toEqual([expect.objectContaining({ version: 2, stored_by: "github:codertocat" })]);
    // No restart: the old app's secret is refused now, the new one's accepted, under the new handle.
    expect((await mention(`@forgebot-second hi`, app.webhookSecret)).status).toBe(401);
    expect((await mention(`@forgebot-second hi again`, second.webhookSecret)).status).toBe(202);
    await waitFor("the second app's reply", () => fake.live().find((c) => c.body.includes("Echo: hi again")));
  });
});
