import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { DOUBLE_FIRE_MS } from "../../src/lifecycle/retry.js";
import type { Flow } from "../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { signedHeaders } from "../helpers/github-app.js";
import { listenOnLoopback } from "../helpers/loopback.js";
import { githubExample } from "../helpers/payloads.js";
import { GITHUB_SIGN_IN_ENV } from "../helpers/sign-in.js";
import { addCheckpoint, signedPath, toolStep } from "../integration/web/support.js";

/**
 * The session page in a real browser (Debian's Chromium driven by playwright-core): a running
 * session turns finished without a reload; the browser signs in through the fake GitHub (a GHES
 * on loopback, whose authorize page answers at once) and presses Stop and Retry; a private
 * repository's session shows nothing until then; a hostile result runs no script. Screenshots
 * go to test-artifacts/ (desktop and phone width).
 */

const ARTIFACTS = path.resolve("test-artifacts");
const HOSTILE = [
  "**Done.** The README has a typo in `Hello-World`.",
  "",
  "<script>alert('script')</script><img src=x onerror=\"alert('img')\"> [a link](javascript:alert('js'))",
].join("\n");

let database: TestDatabase;
let bot: TestBot;
let browser: Browser;
let fake: FakeGitHub;
let holding = true;

/** A chat flow that runs until the test lets go (`holding = false`) or the session is stopped. */
const heldFlow: Flow = {
  name: "chat",
  async run(session, context) {
    while (holding) {
      if (context.signal.aborted) throw context.signal.reason;
      await new Promise((r) => setTimeout(r, 50));
    }
    return { kind: "finished", markdown: session.prompt.startsWith("fix") ? HOSTILE : `Echo: ${session.prompt}` };
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
  // The browser follows redirects to the bot itself: PUBLIC_URL must be its real address.
  const port = await freePort();
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [heldFlow],
    env: { ...GITHUB_SIGN_IN_ENV, GHE_HOST: fake.host, GHE_PROTOCOL: "http", PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` },
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  holding = false;
  await browser?.close();
  await bot?.stop();
  await fake?.stop();
  await database?.drop();
});

let comments = 8_000_000;

/** A mention on issue `issue`; returns the running session it starts. */
async function mention(body: string, issue: number, options: { private?: boolean } = {}): Promise<number> {
  const id = ++comments;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = id;
    p.comment.body = body;
    p.issue.number = issue;
    p.repository.private = options.private === true;
  });
  const raw = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `browser-${id}`, raw), body: raw });
  expect(res.status).toBe(202);
  return waitFor("a running session", async () => {
    const { rows } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE trigger_comment_id = $1 AND status = 'running'", [String(id)]);
    return rows[0]?.id;
  });
}

function statusText(page: Page): Promise<string> {
  return page.locator("#summary .status").innerText();
}

/** Signs the browser in with the header's (or the page's) "Sign in with GitHub" link; back on `page`'s URL. */
async function signInFrom(page: Page): Promise<void> {
  const here = page.url();
  await page.getByRole("link", { name: "Sign in with GitHub" }).first().click();
  await page.waitForURL(here);
  await page.locator(".account", { hasText: "Signed in as @Codertocat" }).waitFor();
}

async function newPage(options: Parameters<Browser["newContext"]>[0] = {}): Promise<{ context: BrowserContext; page: Page; dialogs: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { context, page, dialogs };
}

describe("session page in Chromium", () => {
  it("goes from running to finished without a reload, then, signed in through the forge, Retry reaches the new session", async () => {
    const id = await mention("@forgebot fix the typo in the README", 1);
    const { context, page, dialogs } = await newPage();
    const documents: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) documents.push(frame.url());
    });

    await page.goto(`${bot.baseUrl}${signedPath(id)}`);
    expect(await statusText(page)).toBe("Running");
    expect(await page.locator("#summary .status.moving").count()).toBe(1);
    expect(await page.locator("form.retry, form.stop").count()).toBe(0);
    expect(await page.locator("#summary .action-note").innerText()).toBe("Sign in with GitHub to stop this session. Sign in with GitHub");
    await signInFrom(page);
    expect(await page.locator("form.stop").count()).toBe(1);
    documents.length = 0;
    await page.evaluate("window.__sameDocument = 42");

    // A step written by the agent appears without a reload, its tool call folded.
    await addCheckpoint(database.db, id, 1, toolStep("Reading the README first.", "read_file", { path: "README.md" }, "Hello Wrold"));
    await page.locator('#timeline [data-key="s1"] details.tool').waitFor();
    expect(await page.locator('#timeline [data-key="s1"] details.tool').getAttribute("open")).toBeNull();

    holding = false;
    await page.locator('#summary .status[data-status="finished"]').waitFor({ timeout: 15_000 });
    expect(await statusText(page)).toBe("Finished");
    expect(await page.locator("#summary .status.moving").count()).toBe(0);
    expect(await page.locator("#summary .result .markdown strong").innerText()).toBe("Done.");
    expect(await page.evaluate("window.__sameDocument")).toBe(42);
    expect(documents).toHaveLength(0);
    await page.locator("#timeline li", { hasText: "Reply posted" }).waitFor();
    // The summary the stream swapped in carries the signed-in user's Retry, not the Stop.
    expect(await page.locator("form.stop").count()).toBe(0);
    await page.locator("form.retry").waitFor();

    await page.screenshot({ path: path.join(ARTIFACTS, "session-page.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(ARTIFACTS, "session-page-phone.png"), fullPage: true });
    const overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow).toBe(0);
    await page.setViewportSize({ width: 1100, height: 900 });

    // Retry: a double click makes one POST, which lands on the new session's page.
    await page.locator("form.retry button").dblclick();
    await page.waitForURL((url) => /^\/sessions\/\d+$/.test(url.pathname) && url.pathname !== `/sessions/${id}`, { timeout: 15_000 });
    const childId = Number(/\/sessions\/(\d+)/.exec(page.url())![1]);
    expect(childId).toBeGreaterThan(id);
    expect(await page.locator("h1").innerText()).toBe(`Session ${childId}`);
    expect(await page.locator("#summary").innerText()).toContain(`Session ${id}`);
    await page.locator('#summary .status[data-status="finished"]').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, "session-page-retry.png"), fullPage: true });

    const { rows } = await database.db.query("SELECT id, origin, parent_session_id, prompt, actor_login FROM sessions WHERE parent_session_id = $1", [id]);
    expect(rows).toEqual([{ id: childId, origin: "retry_button", parent_session_id: id, prompt: "fix the typo in the README", actor_login: "Codertocat" }]);
    expect(fake.comments.filter((c) => c.body.includes(`forgebot:started session=${childId} `))).toHaveLength(1);
    // The hostile result ran nothing.
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it("works without JavaScript: sign-in is links, Retry is a plain form POST", async () => {
    const { rows } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE status = 'finished' AND origin = 'mention' ORDER BY id LIMIT 1");
    const id = rows[0]!.id;
    // Past the double-fire window of the retry the first test made, a press is a retry of its own.
    const { rows: first } = await database.db.query<{ created_at: Date }>("SELECT created_at FROM sessions WHERE parent_session_id = $1", [id]);
    await waitFor("the double-fire window to pass", () => Date.now() - first[0]!.created_at.getTime() > DOUBLE_FIRE_MS);
    const { context, page } = await newPage({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
    await page.goto(`${bot.baseUrl}${signedPath(id)}`);
    expect(await statusText(page)).toBe("Finished");
    await signInFrom(page);
    await page.locator("form.retry button").click();
    await page.waitForURL((url) => /^\/sessions\/\d+$/.test(url.pathname) && url.pathname !== `/sessions/${id}`);
    const { rows: children } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE parent_session_id = $1 ORDER BY id", [id]);
    expect(children).toHaveLength(2);
    expect(page.url()).toContain(`/sessions/${children[1]!.id}?sig=`);
    await context.close();
  });

  it("a private repository's session: nothing until sign-in, then Stop stops it and Retry runs it again", async () => {
    holding = true;
    const id = await mention("@forgebot explain the private code", 2, { private: true });
    const { context, page } = await newPage();
    const response = await page.goto(`${bot.baseUrl}${signedPath(id)}`);
    expect(response?.status()).toBe(401);
    expect(await page.locator("h1").innerText()).toBe(`Sign in to see session ${id}`);
    expect(await page.content()).not.toContain("explain the private code");
    await page.screenshot({ path: path.join(ARTIFACTS, "session-page-sign-in.png"), fullPage: true });

    await page.locator("main").getByRole("link", { name: "Sign in with GitHub" }).click();
    await page.waitForURL((url) => url.pathname === `/sessions/${id}`);
    expect(await statusText(page)).toBe("Running");
    expect(await page.locator(".prompt-text").innerText()).toBe("explain the private code");

    await page.locator("form.stop button").click();
    await page.locator('#summary .status[data-status="stopped"]').waitFor({ timeout: 15_000 });
    await waitFor("the stopped session's reply", () => fake.live().find((c) => c.body.includes(`forgebot:reply session=${id} `) && c.body.includes("This session was stopped.")));

    await page.locator("form.retry").waitFor();
    await page.locator("form.retry button").click();
    await page.waitForURL((url) => /^\/sessions\/\d+$/.test(url.pathname) && url.pathname !== `/sessions/${id}`, { timeout: 15_000 });
    const childId = Number(/\/sessions\/(\d+)/.exec(page.url())![1]);
    await page.locator("form.stop").waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, "session-page-signed-in.png"), fullPage: true });
    const { rows } = await database.db.query("SELECT status, origin, actor_login, visibility FROM sessions WHERE id = $1", [childId]);
    expect(rows[0]).toMatchObject({ origin: "retry_button", actor_login: "Codertocat", visibility: "private" });
    expect(fake.live().find((c) => c.body.includes(`forgebot:started session=${childId} `))?.body).toContain("Retried by @Codertocat");

    // Sign out: the page is private again.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((url) => url.pathname === `/sessions/${childId}`);
    expect(await page.locator("h1").innerText()).toBe(`Sign in to see session ${childId}`);
    await context.close();
  });
});
