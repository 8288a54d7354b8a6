import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chromium, type Browser } from "playwright-core";
import type { Flow } from "../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { signedHeaders } from "../helpers/github-app.js";
import { listenOnLoopback } from "../helpers/loopback.js";
import { githubExample } from "../helpers/payloads.js";

/**
 * Issue 17's acceptance: the GitHub App manifest flow in a real browser (Debian's Chromium driven
 * by playwright-core) against a fake GitHub on loopback. A bot started with no forge shows the
 * setup page on `/`; the browser registers the app (our page, then the plain form that posts the
 * manifest to GitHub, which sends it back to the callback), and a webhook signed with the secret
 * the fake issued is then answered with a started note — the same process, no restart.
 * Screenshots go to test-artifacts/.
 */

const ARTIFACTS = path.resolve("test-artifacts");
const APP_NAME = "forgebot-browser";

let database: TestDatabase;
let bot: TestBot;
let browser: Browser;
let fake: FakeGitHub;

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  // GitHub sends the browser back to PUBLIC_URL: it must be the bot's real address here.
  const port = await freePort();
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    env: { APP_ID: "", PRIVATE_KEY: "", WEBHOOK_SECRET: "", BOT_HANDLE: "", GHE_HOST: fake.host, GHE_PROTOCOL: "http", PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` },
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await bot?.stop();
  await fake?.stop();
  await database?.drop();
});

describe("first run in Chromium", () => {
  it("registers forgebot on GitHub through the manifest flow, then answers a signed webhook with a started note without a restart", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    // Console errors but the status codes of loads (the favicon's 404, the last page's 409): a CSP refusal would show here.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
    });
    page.on("pageerror", (err) => problems.push(err.message));

    await page.goto(`${bot.baseUrl}/`);
    expect(await page.locator("h1").innerText()).toBe("Set up forgebot");
    await page.screenshot({ path: path.join(ARTIFACTS, "setup-page.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(ARTIFACTS, "setup-page-phone.png"), fullPage: true });
    expect(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")).toBe(0);
    await page.setViewportSize({ width: 1100, height: 900 });

    // Our page: the app's name and owner.
    await page.getByLabel("App name").fill(APP_NAME);
    await page.getByLabel("my personal account").check();
    await page.getByRole("button", { name: "Register forgebot on GitHub" }).click();
    await page.waitForURL(`${bot.baseUrl}/setup/github`);
    expect(await page.locator("h1").innerText()).toBe("Register forgebot on GitHub");
    expect(await page.locator("main").innerText()).toContain(`${bot.baseUrl}/api/github/webhooks`);
    await page.screenshot({ path: path.join(ARTIFACTS, "setup-github.png"), fullPage: true });

    // The plain form posts the manifest to (fake) GitHub, which sends the browser back with the code.
    await page.getByRole("button", { name: `Continue to ${fake.host}` }).click();
    await page.waitForURL((url) => url.pathname === "/setup/github/callback");
    expect(await page.locator("h1").innerText()).toBe("forgebot is registered on GitHub");
    const app = fake.createdApps[0]!;
    expect(app.slug).toBe(APP_NAME);
    expect(app.manifest).toMatchObject({ name: APP_NAME, hook_attributes: { url: `${bot.baseUrl}/api/github/webhooks` }, redirect_url: `${bot.baseUrl}/setup/github/callback`, public: false });
    expect(await page.getByRole("link", { name: "Install the app on GitHub" }).getAttribute("href")).toBe(`${app.htmlUrl}/installations/new`);
    await page.screenshot({ path: path.join(ARTIFACTS, "setup-done.png"), fullPage: true });

    // The same bot process answers the new app's webhooks at once.
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.id = 8_800_001;
      p.comment.body = `@${APP_NAME} hello from the first run`;
      p.issue.number = 1;
    });
    const raw = JSON.stringify(payload);
    const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "first-run-1", raw, app.webhookSecret), body: raw });
    expect(res.status).toBe(202);
    const started = await waitFor("the started note", () => fake.comments.find((c) => c.body.includes("forgebot:started session=")));
    expect(started.body).toMatch(/^Started session \d+ and will let you know when it's finished\./);
    await waitFor("the reply", () => fake.live().find((c) => c.body.includes("Echo: hello from the first run")));

    // `/` is now the bot's status, with no secret on it.
    await page.goto(`${bot.baseUrl}/`);
    expect(await page.locator("h1").innerText()).toBe("forgebot is running");
    expect(await page.locator(".forges").innerText()).toContain(`answers @${APP_NAME}`);
    const html = await page.content();
    for (const secret of [app.webhookSecret, app.clientSecret, app.pem.split("\n")[5]!]) expect(html).not.toContain(secret);
    await page.screenshot({ path: path.join(ARTIFACTS, "status-page.png"), fullPage: true });
    // The setup page now refuses anyone but an operator.
    const again = await page.goto(`${bot.baseUrl}/setup`);
    expect(again?.status()).toBe(409);
    expect(problems).toEqual([]);
    await context.close();
  });
});
