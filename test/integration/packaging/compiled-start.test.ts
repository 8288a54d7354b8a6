import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { waitFor } from "../../helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { signedHeaders, testPrivateKey, WEBHOOK_SECRET } from "../../helpers/github-app.js";
import { assembleRuntimeTree } from "../../helpers/image.js";
import { githubExample } from "../../helpers/payloads.js";
import { freePort, ROOT, spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";

/**
 * What the image runs: `npm run build`, then the compiled `forgebot start` from a directory laid
 * out as the Dockerfile's runtime stage lays out /app (dist/, bin/, config/, package files; no
 * src/, no scripts/): `forgebot migrate`, then `forgebot start` answering one mention end to end
 * through the model provider, the prompt and the session page's views and static files, all
 * read from dist/.
 */
let app: string;
let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let proc: BotProcess | undefined;

beforeAll(async () => {
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, encoding: "utf8" });
  expect({ status: build.status, stderr: build.status === 0 ? "" : build.stderr }).toEqual({ status: 0, stderr: "" });
  app = mkdtempSync(path.join(tmpdir(), "forgebot-image-"));
  assembleRuntimeTree(app);
  // The image installs production dependencies; here the checkout's node_modules stands in.
  symlinkSync(path.join(ROOT, "node_modules"), path.join(app, "node_modules"), "dir");
  database = await createTestDatabase({ migrate: false });
  github = await new FakeGitHub().start();
  model = await new FakeOpenAI().start();
  model.script = () => ({ kind: "text", text: "The compiled bot read this thread." });
}, 120_000);

afterAll(async () => {
  if (proc) await stopProcess(proc, "SIGKILL");
  await model.stop();
  await github.stop();
  await database.drop();
  rmSync(app, { recursive: true, force: true });
});

describe("the compiled bot, as the image runs it", () => {
  it("has no sources to fall back on", () => {
    expect(existsSync(path.join(app, "src"))).toBe(false);
    expect(existsSync(path.join(app, "scripts"))).toBe(false);
    expect(existsSync(path.join(app, "dist/main.js"))).toBe(true);
  });

  it("forgebot migrate (compose's one-shot service) applies the SQL migrations shipped in dist/", async () => {
    const migrate = spawnForgebot(["migrate"], { DATABASE_URL: database.url, LOG_LEVEL: "warn" }, { bin: path.join(app, "bin/forgebot.js"), cwd: app });
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toMatch(/^applied 001_core\.sql, /m);
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("forgebot start answers a mention: started note, model call, reply, session page", async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    proc = spawnForgebot(
      ["start"],
      {
        NODE_ENV: "production",
        APP_ID: "12345",
        PRIVATE_KEY: testPrivateKey(),
        WEBHOOK_SECRET,
        GHE_HOST: github.host,
        GHE_PROTOCOL: "http",
        BOT_HANDLE: "forgebot",
        DATABASE_URL: database.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: uniquePrefix(),
        PORT: String(port),
        HOST: "127.0.0.1",
        PUBLIC_URL: publicUrl,
        SESSION_LINK_SECRET: "compiled-link-secret",
        DATA_DIR: path.join(app, "data"),
        OPENAI_BASE_URL: model.baseUrl,
        OPENAI_MODEL: "fake-model",
        OPENAI_API_KEY: "test-key",
        AGENT_MODEL_RETRIES: "0",
        LOG_LEVEL: "info",
      },
      { bin: path.join(app, "bin/forgebot.js"), cwd: app },
    );
    await waitFor("healthz", () => fetch(`${publicUrl}/healthz`).then((r) => r.ok).catch(() => false), 60_000);
    expect(proc.output()).not.toContain("building");

    const thread = 91_001;
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.id = thread;
      p.issue.number = thread;
      p.comment.body = "@forgebot what does this repository do?";
    });
    const body = JSON.stringify(payload);
    const res = await fetch(`${publicUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "compiled-1", body), body });
    expect(res.status).toBe(202);

    const reply = await waitFor("reply", () => github.live({ number: thread }).find((c) => c.body.includes("forgebot:reply")), 60_000);
    const started = github.comments.filter((c) => c.number === thread && c.body.includes("forgebot:started"));
    expect(started).toHaveLength(1);
    expect(started[0]!.body).toMatch(/^Started session \d+ and will let you know when it's finished\./);
    expect(started[0]!.deleted).toBe(true);
    expect(reply.body).toContain("The compiled bot read this thread.");
    // The system prompt is read from dist/agent/prompts/ at run time.
    expect(model.requests[0]?.raw).toContain("an assistant that answers questions in");

    const link = /\[View session\]\((http:\/\/127\.0\.0\.1:\d+\/sessions\/\d+\?sig=[^)]+)\)/.exec(reply.body)?.[1];
    expect(link).toBeDefined();
    const page = await fetch(link!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("The compiled bot read this thread.");
    const css = await fetch(`${publicUrl}/static/style.css`);
    expect(css.status).toBe(200);

    const log = proc.output();
    expect(log).toContain('"queue":"redis"');
    expect(log).toContain("model providers configured");
    // config/feature_flags/ is found from dist/ as from src/ (the chat flow checks provider_stickiness).
    expect(log).not.toContain("feature flag checked without a definition");
    expect(await stopProcess(proc)).toBe(0);
  }, 120_000);
});
