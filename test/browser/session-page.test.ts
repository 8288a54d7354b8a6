import { mkdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestBot, waitFor, type TestBot } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { signedHeaders } from "../helpers/github-app.js";
import { nockGitHub } from "../helpers/nock-github.js";
import { githubExample } from "../helpers/payloads.js";
import { addCheckpoint, gatedFlow, signedPath, toolStep } from "../integration/web/support.js";

/**
 * The session page in a real browser (Debian's Chromium driven by playwright-core): a running
 * session turns finished without a reload, Retry leads to the new session, and a hostile result
 * runs no script. Screenshots go to test-artifacts/ (desktop and phone width).
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
const gate = gatedFlow((prompt) => (prompt.startsWith("fix") ? HOSTILE : `Echo: ${prompt}`));

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  database = await createTestDatabase();
  fake = new FakeGitHub();
  nockGitHub(fake);
  bot = await startTestBot({ databaseUrl: database.url, flows: [gate.flow] });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  gate.release();
  await browser?.close();
  await bot?.stop();
  await database?.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

async function mention(body: string): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = 8_000_001;
    p.comment.body = body;
  });
  const raw = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "browser-1", raw), body: raw });
  expect(res.status).toBe(202);
  return waitFor("a running session", async () => {
    const { rows } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE status = 'running' ORDER BY id DESC LIMIT 1");
    return rows[0]?.id;
  });
}

function statusText(page: Page): Promise<string> {
  return page.locator("#summary .status").innerText();
}

describe("session page in Chromium", () => {
  it("goes from running to finished without a reload, then Retry reaches the new session", async () => {
    const id = await mention("@forgebot fix the typo in the README");
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const documents: string[] = [];
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) documents.push(frame.url());
    });

    await page.goto(`${bot.baseUrl}${signedPath(id)}`);
    expect(await statusText(page)).toBe("Running");
    expect(await page.locator("#summary .status.moving").count()).toBe(1);
    expect(await page.locator("form.retry").count()).toBe(0);
    await page.evaluate("window.__sameDocument = 42");

    // A step written by the agent appears without a reload, its tool call folded.
    await addCheckpoint(database.db, id, 1, toolStep("Reading the README first.", "read_file", { path: "README.md" }, "Hello Wrold"));
    await page.locator('#timeline [data-key="s1"] details.tool').waitFor();
    expect(await page.locator('#timeline [data-key="s1"] details.tool').getAttribute("open")).toBeNull();

    gate.release();
    await page.locator('#summary .status[data-status="finished"]').waitFor({ timeout: 15_000 });
    expect(await statusText(page)).toBe("Finished");
    expect(await page.locator("#summary .status.moving").count()).toBe(0);
    expect(await page.locator("#summary .result .markdown strong").innerText()).toBe("Done.");
    expect(await page.evaluate("window.__sameDocument")).toBe(42);
    expect(documents).toHaveLength(1);
    await page.locator("#timeline li", { hasText: "Reply posted" }).waitFor();

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

    const { rows } = await database.db.query("SELECT id, origin, parent_session_id, prompt FROM sessions WHERE parent_session_id = $1", [id]);
    expect(rows).toEqual([{ id: childId, origin: "retry_button", parent_session_id: id, prompt: "fix the typo in the README" }]);
    expect(fake.comments.filter((c) => c.body.includes(`forgebot:started session=${childId} `))).toHaveLength(1);
    // The hostile result ran nothing.
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it("works without JavaScript: the page renders and Retry is a plain form POST", async () => {
    const { rows } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE status = 'finished' AND origin = 'mention' ORDER BY id LIMIT 1");
    const id = rows[0]!.id;
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${bot.baseUrl}${signedPath(id)}`);
    expect(await statusText(page)).toBe("Finished");
    await page.locator("form.retry button").click();
    await page.waitForURL((url) => /^\/sessions\/\d+$/.test(url.pathname) && url.pathname !== `/sessions/${id}`);
    // The parent was already retried: the form leads to that same child.
    const { rows: children } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE parent_session_id = $1", [id]);
    expect(children).toHaveLength(1);
    expect(page.url()).toContain(`/sessions/${children[0]!.id}?sig=`);
    await context.close();
  });
});
