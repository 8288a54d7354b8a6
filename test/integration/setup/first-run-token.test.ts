import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { createOnFakeGitHub, githubCallback, openSetup, postGitHubForm, registerGitHubApp } from "../../helpers/setup-flow.js";
import { postForm } from "../../helpers/sign-in.js";

/**
 * With ADMIN_TOKEN set before the first start, even the first run is the operator's: the setup
 * page asks a browser for the token, and nothing can be registered without it.
 */

const ADMIN_TOKEN = "first-run-operator-token";
let database: TestDatabase;
let fake: FakeGitHub;
let bot: TestBot;

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  bot = await startTestBot({ databaseUrl: database.url, env: { APP_ID: "", PRIVATE_KEY: "", WEBHOOK_SECRET: "", GHE_HOST: fake.host, GHE_PROTOCOL: "http", ADMIN_TOKEN } });
});

afterAll(async () => {
  await bot?.stop();
  await fake?.stop();
  await database?.drop();
});

describe("the first run with ADMIN_TOKEN set", () => {
  it("asks for the token on / and /setup, refuses the forms without it, and registers with it", async () => {
    for (const path of ["/", "/setup"]) {
      const res = await fetch(`${bot.baseUrl}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Basic");
      expect(await res.text()).toContain("ADMIN_TOKEN is set");
    }
    const basic = { authorization: `Basic ${Buffer.from(`me:${ADMIN_TOKEN}`).toString("base64")}` };
    const page = await openSetup(bot.baseUrl, { path: "/", headers: basic });
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("Register forgebot on GitHub");

    // The page's valid form tokens are not enough without the token itself.
    expect((await postGitHubForm(bot.baseUrl, page, { name: "fb-token" })).res.status).toBe(401);
    expect((await postForm(`${bot.baseUrl}/setup/gitlab`, { token: page.gitlabToken!, gitlab_token: "glpat-x", webhook_secret: page.gitlabSecret!, action: "check" }, { cookie: page.cookie })).status).toBe(401);
    expect((await database.db.query("SELECT count(*)::int AS n FROM setup_states")).rows[0].n).toBe(0);

    // With it (Bearer here), the flow goes through, and the state remembers an operator started it.
    const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const flow = await postGitHubForm(bot.baseUrl, page, { name: "fb-token" }, bearer);
    expect(flow.res.status).toBe(200);
    const location = await createOnFakeGitHub(flow);
    const done = await githubCallback(bot.baseUrl, location, page.cookie);
    expect(done.status).toBe(200);
    const { rows } = await database.db.query("SELECT stored_by FROM forge_credentials");
    expect(rows).toEqual([{ stored_by: "admin_token" }]);
    // Once set up, an operator still gets in; `?as=operator` asks a browser for the token.
    expect((await fetch(`${bot.baseUrl}/setup?as=operator`)).status).toBe(401);
    expect((await registerGitHubApp(bot.baseUrl, { fields: { name: "fb-token-2" }, headers: bearer })).res.status).toBe(200);
  });
});
