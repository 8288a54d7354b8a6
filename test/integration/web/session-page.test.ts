import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { addCheckpoint, seedSession, signedPath, toolStep } from "./support.js";

let database: TestDatabase;
let bot: TestBot;

beforeAll(async () => {
  database = await createTestDatabase();
  bot = await startTestBot({ databaseUrl: database.url, roles: { web: true, workers: false }, env: { ADMIN_TOKEN: "operator-token" } });
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${bot.baseUrl}${path}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Tags that would run script: `<script>` (ours has a src), `on…=` attributes, javascript: URLs. */
function activeContent(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<script\b[^>]*>/gi)) if (m[0] !== '<script src="/static/session.js" defer>') found.push(m[0]);
  for (const m of html.matchAll(/<[a-z][^>]*\son[a-z]+\s*=[^>]*>/gi)) found.push(m[0]);
  for (const m of html.matchAll(/\b(?:href|src|action|formaction)\s*=\s*["']?\s*(?:javascript|vbscript|data:text\/html)/gi)) found.push(m[0]);
  return found;
}

describe("GET /sessions/:id", () => {
  it("shows a finished session: status, thread, who asked, prompt, timeline with folded tool calls, model, usage, result", async () => {
    const session = await seedSession(bot.bot, {
      status: "finished",
      prompt: "Why does the build fail?",
      result: "The build fails because **`npm ci`** needs a lock file.",
      model: { name: "primary", provider: "openai", model: "gpt-4.1-mini" },
      usage: { inputTokens: 1234, outputTokens: 56, cachedInputTokens: 1000, costUsd: 0.0123, durationMs: 4200, steps: 2 },
      delivered: true,
    });
    await addCheckpoint(database.db, session.id, 1, { kind: "start", run: 1, history: [], messages: [{ role: "user", content: "Why does the build fail?" }] });
    await addCheckpoint(database.db, session.id, 2, toolStep("Let me read the workflow.", "read_file", { path: ".github/workflows/ci.yml" }, { content: "run: npm ci" }), {
      inputTokens: 600,
      outputTokens: 20,
      durationMs: 1500,
    });

    const page = await get(signedPath(session.id));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = page.text;
    expect(html).toContain(`<h1>Session ${session.id}</h1>`);
    expect(html).toMatch(/<p class="status status-finished" role="status" data-status="finished">/);
    expect(html).toContain('<a href="https://github.com/Codertocat/Hello-World/issues/1" rel="noopener noreferrer">Issue Codertocat/Hello-World#1</a>');
    expect(html).toContain("<dt>Asked by</dt><dd>Codertocat</dd>");
    expect(html).toContain('<p class="prompt-text">Why does the build fail?</p>');
    expect(html).toContain("<dt>Model</dt><dd>gpt-4.1-mini</dd>");
    expect(html).toContain("<dt>Provider</dt><dd>openai</dd>");
    expect(html).toContain("1,234 in / 56 out tokens (1,000 cached) · 2 steps");
    expect(html).toContain("<dt>Cost</dt><dd>$0.0123</dd>");
    expect(html).toMatch(/<dt>Duration<\/dt><dd>\d+ ms|<dt>Duration<\/dt><dd>[\d.]+ s/);
    expect(html).toContain("<p>The build fails because <strong><code>npm ci</code></strong> needs a lock file.</p>");

    // Timeline: the lifecycle's events, then the steps; the tool call folded with its arguments and result.
    expect(html).toContain("Status: Created → Running");
    expect(html).toContain("Status: Running → Finished");
    expect(html).toContain("Reply posted");
    expect(html).toContain("Step 1: Request");
    expect(html).toContain("Step 2: Model step");
    expect(html).toContain("<p>Let me read the workflow.</p>");
    expect(html).toContain("600 in / 20 out tokens · 1.5 s");
    const tool = /<details class="tool"><summary>Tool call: <code>read_file<\/code><\/summary>([\s\S]*?)<\/details>/.exec(html);
    expect(tool?.[1]).toContain("&quot;path&quot;: &quot;.github/workflows/ci.yml&quot;");
    expect(tool?.[1]).toContain("&quot;content&quot;: &quot;run: npm ci&quot;");

    // Ended, but sign-in is not set up here: no button, the thread's command instead.
    expect(html).not.toContain('<form class="retry"');
    expect(html).toContain('<p class="action-note">Write <code>@forgebot retry</code> in the thread to run this request again.</p>');
    expect(html).not.toContain('class="status status-finished moving"');
  });

  it("renders a result holding <script>, onerror= and javascript: links inert", async () => {
    const hostile = [
      "Here you go <script>alert('result')</script>",
      "",
      '<img src="x" onerror="alert(\'img\')"> <a href="javascript:alert(\'a\')">click</a>',
      "",
      "[markdown link](javascript:alert('md')) and <svg onload=alert('svg')></svg> and <iframe src=\"javascript:alert('if')\"></iframe>",
      "",
      '<a href="https://example.com/ok" onclick="alert(\'click\')">fine link</a>',
    ].join("\n");
    const session = await seedSession(bot.bot, { status: "finished", result: hostile, prompt: "<script>alert('prompt')</script>", delivered: true });
    await addCheckpoint(database.db, session.id, 1, toolStep("<img src=x onerror=alert('step')>", "get_thread", { q: "<script>" }, "<script>alert('tool')</script>"));

    const { status, text: html } = await get(signedPath(session.id));
    expect(status).toBe(200);
    expect(activeContent(html)).toEqual([]);
    expect(html).not.toMatch(/javascript:/i);
    // Images survive only with absolute http(s) sources (a relative one would hit this server).
    expect(html).not.toMatch(/<img[^>]*src="x"/);
    // What is left is readable: the text, the safe link (with rel), the escaped prompt and tool output.
    expect(html).toContain('<a href="https://example.com/ok" rel="nofollow noopener noreferrer">fine link</a>');
    expect(html).toContain("&lt;script&gt;alert(&#39;prompt&#39;)&lt;/script&gt;");
    expect(html).toContain("&lt;script&gt;alert(&#39;tool&#39;)&lt;/script&gt;");
    expect(html).toContain("Here you go");

    // The JSON API returns the result as data, never as HTML.
    const api = await get(`/api${signedPath(session.id)}`);
    expect((JSON.parse(api.text) as { result: string }).result).toBe(hostile);
    expect(api.headers.get("content-type")).toBe("application/json; charset=utf-8");
  });

  it("animates a running session and offers no retry while it runs or waits for input", async () => {
    const running = await seedSession(bot.bot, { status: "running" });
    const runningHtml = (await get(signedPath(running.id))).text;
    expect(runningHtml).toContain('<p class="status status-running moving" role="status" data-status="running">');
    expect(runningHtml).not.toContain('class="retry"');
    expect(runningHtml).toContain("Write <code>@forgebot stop</code> in the thread to stop this session.");
    expect(runningHtml).toContain('<noscript><meta http-equiv="refresh" content="10"></noscript>');
    expect(runningHtml).toMatch(new RegExp(`data-stream="/sessions/${running.id}/events\\?sig=[\\w-]+&amp;after=\\d+\\.0"`));

    const waiting = await seedSession(bot.bot, { status: "input_required", result: "Which branch do you mean?" });
    const waitingHtml = (await get(signedPath(waiting.id))).text;
    expect(waitingHtml).toContain('<p class="status status-input_required" role="status" data-status="input_required">');
    expect(waitingHtml).toContain('<h2 id="result-heading">Question</h2>');
    expect(waitingHtml).not.toContain('class="retry"');
    expect(waitingHtml).not.toContain("http-equiv");
  });

  it("shows the error reason of a failed session", async () => {
    const failed = await seedSession(bot.bot, { status: "failed", errorReason: "model_unavailable" });
    const html = (await get(signedPath(failed.id))).text;
    expect(html).toContain('<h2 id="error-heading">Error: model_unavailable</h2>');
    expect(html).toContain("I couldn&#39;t reach the model provider");
    expect(html).toContain("model call failed: 503 upstream");
    expect(html).toContain("<code>@forgebot retry</code>");
  });
});

describe("signatures", () => {
  it("answers 404 to a wrong or missing signature on the page, the JSON and the SSE stream", async () => {
    const session = await seedSession(bot.bot, { status: "running" });
    const good = signedPath(session.id);
    const otherSecret = signedPath(session.id, "", "another-secret");
    const otherId = signedPath(session.id + 1000).replace(`/sessions/${session.id + 1000}`, `/sessions/${session.id}`);
    const bad = [
      `/sessions/${session.id}`,
      `/sessions/${session.id}?sig=`,
      otherSecret,
      otherId,
      `${good.slice(0, -1)}${good.endsWith("A") ? "B" : "A"}`,
    ];
    for (const path of bad) {
      const [page, api, events] = await Promise.all([
        get(path),
        get(`/api${path}`),
        get(path.replace(`/sessions/${session.id}`, `/sessions/${session.id}/events`)),
      ]);
      expect([path, page.status, api.status, events.status]).toEqual([path, 404, 404, 404]);
      expect(page.text).not.toContain(session.prompt);
      expect(api.text).not.toContain(session.prompt);
    }
    // A valid signature for an id with no session, and ids that are not ids.
    for (const path of [signedPath(session.id + 1000), "/sessions/abc?sig=x", "/sessions/0?sig=x", "/sessions/%E0?sig=x"]) {
      expect((await get(path)).status).toBe(404);
    }
    // And the good link works for all three.
    expect((await get(good)).status).toBe(200);
    expect((await get(`/api${good}`)).status).toBe(200);
    const stream = await fetch(`${bot.baseUrl}${signedPath(session.id, "/events")}`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    await stream.body?.cancel();
  });
});

describe("GET /api/sessions/:id", () => {
  it("returns the page's data as JSON with signed links", async () => {
    const session = await seedSession(bot.bot, { status: "finished", result: "Done.", delivered: true, model: { name: "m", provider: "anthropic", model: "claude-sonnet-4-5" } });
    await addCheckpoint(database.db, session.id, 1, toolStep("Reading.", "list_directory", { path: "src" }, ["a.ts"]));
    const res = await get(`/api${signedPath(session.id)}`);
    expect(res.status).toBe(200);
    type Body = {
      links: { page: string; events: string };
      events: { kind: string }[];
      checkpoints: { delta: { messages: { content: unknown[] }[] } }[];
    };
    const body = JSON.parse(res.text) as Body & Record<string, unknown>;
    expect(body).toMatchObject({
      id: session.id,
      status: "finished",
      terminal: true,
      forge: "github",
      repository: "Codertocat/Hello-World",
      thread: { kind: "issue", number: 1, title: "Spelling error in the README file", url: "https://github.com/Codertocat/Hello-World/issues/1" },
      actor: { login: "Codertocat" },
      prompt: session.prompt,
      origin: "mention",
      parentSessionId: null,
      model: { provider: "anthropic", model: "claude-sonnet-4-5" },
      result: "Done.",
      error: null,
      visibility: "public",
      // Nobody signed in: nothing this viewer may do from here.
      retryAllowed: false,
      stopAllowed: false,
      retries: [],
      steps: 1,
    });
    expect(body.links.page).toBe(`http://forgebot.test${signedPath(session.id)}`);
    expect(body.links.events).toBe(`http://forgebot.test${signedPath(session.id, "/events")}`);
    expect(body.events.map((e) => e.kind)).toEqual(["created", "status", "status", "reply_posted"]);
    expect(body.checkpoints[0]?.delta.messages[0]?.content[1]).toMatchObject({ type: "tool-call", toolName: "list_directory" });
    expect(JSON.stringify(body)).not.toContain("token");
  });
});

describe("GET /sessions (operators)", () => {
  it("needs ADMIN_TOKEN and filters by status, forge and repository", async () => {
    const finished = await seedSession(bot.bot, { status: "finished", delivered: true, number: 7 });
    const running = await seedSession(bot.bot, { status: "running", number: 8 });

    const anonymous = await get("/sessions");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Basic");
    expect((await get("/sessions", { authorization: "Bearer wrong-token" })).status).toBe(401);

    const basic = `Basic ${Buffer.from("ops:operator-token").toString("base64")}`;
    const page = await get("/sessions?status=running", { authorization: basic });
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<a href="${signedPath(running.id)}">${running.id}</a>`);
    expect(page.text).not.toContain(`<a href="${signedPath(finished.id)}">`);

    const auth = { authorization: "Bearer operator-token", accept: "application/json" };
    const json = async (query: string) => JSON.parse((await get(`/sessions${query}`, auth)).text) as { sessions: { id: number; status: string }[] };
    const finishedOnly = await json("?status=finished&repo=hello-world");
    expect(finishedOnly.sessions.length).toBeGreaterThan(0);
    expect(finishedOnly.sessions.every((s) => s.status === "finished")).toBe(true);
    expect(finishedOnly.sessions.map((s) => s.id)).toContain(finished.id);
    expect((await json("?forge=gitlab")).sessions).toEqual([]);
    expect((await json("?repo=no-such-repo")).sessions).toEqual([]);
    expect((await json(`?before=${running.id}`)).sessions.map((s) => s.id)).not.toContain(running.id);
  });
});

describe("static assets", () => {
  it("serves the stylesheet and the script from this origin, and nothing else", async () => {
    const css = await get("/static/style.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    const js = await fetch(`${bot.baseUrl}/static/session.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const again = await fetch(`${bot.baseUrl}/static/session.js`, { headers: { "if-none-match": js.headers.get("etag") ?? "" } });
    expect(again.status).toBe(304);
    expect((await get("/static/..%2Fsession-page.ts")).status).toBe(404);
  });
});
