import { ProbotOctokit } from "probot";
import { startForgebot, type Forgebot, type Roles } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { createLogger, type Logger } from "../../src/logging/logger.js";
import type { Flow } from "../../src/sessions/flow.js";
import { TEST_REDIS_URL, uniquePrefix } from "./db.js";
import { testPrivateKey, WEBHOOK_SECRET } from "./github-app.js";

/** Probot's Octokit with retry and throttling off: tests see every request once, at once. */
export const TestOctokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({
  ...options,
  retry: { enabled: false },
  throttle: { enabled: false },
}));

export type TestBotOptions = {
  databaseUrl: string;
  /** "redis" (default) or "postgres" for BullMQ's Postgres backend. */
  queue?: "redis" | "postgres";
  env?: Record<string, string>;
  flows?: Flow[];
  roles?: Roles;
  realOctokit?: boolean;
  /** The bot's logger (default: pino at LOG_LEVEL on stdout); tests that read the logs pass their own. */
  log?: Logger;
};

export type TestBot = { bot: Forgebot; baseUrl: string; stop(): Promise<void> };

/** Write budgets far above anything a test sends: for tests and benches not about the budget. */
export const UNLIMITED_WRITES: Record<string, string> = {
  GITHUB_WRITES_PER_MINUTE: "100000",
  GITHUB_WRITES_PER_HOUR: "1000000",
  GITHUB_DELETES_PER_MINUTE: "100000",
};

/** The environment a test bot runs with: GitHub configured, quick stall detection, silent logs. */
export function testEnv(options: Pick<TestBotOptions, "databaseUrl" | "queue" | "env">): Record<string, string> {
  return {
    APP_ID: "12345",
    PRIVATE_KEY: testPrivateKey(),
    WEBHOOK_SECRET,
    BOT_HANDLE: "forgebot",
    DATABASE_URL: options.databaseUrl,
    ...(options.queue === "postgres" ? {} : { REDIS_URL: TEST_REDIS_URL }),
    QUEUE_PREFIX: uniquePrefix(),
    PORT: "0",
    HOST: "127.0.0.1",
    PUBLIC_URL: "http://forgebot.test",
    SESSION_LINK_SECRET: "test-link-secret",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    JOB_LOCK_MS: "2000",
    JOB_STALLED_INTERVAL_MS: "1000",
    ...options.env,
  };
}

export async function startTestBot(options: TestBotOptions): Promise<TestBot> {
  const config = loadConfig(testEnv(options));
  const bot = await startForgebot(config, {
    roles: options.roles ?? { web: true, workers: true },
    log: options.log ?? createLogger(config.logLevel),
    ...(options.realOctokit ? {} : { githubOctokit: TestOctokit as unknown as typeof ProbotOctokit }),
    ...(options.flows ? { flows: options.flows } : {}),
    stopPollMs: 100,
  });
  return { bot, baseUrl: `http://127.0.0.1:${bot.port ?? 0}`, stop: () => bot.stop() };
}

/** Polls until `check` returns a truthy value, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err: unknown) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}
