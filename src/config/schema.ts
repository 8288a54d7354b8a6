import { z } from "zod";

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

function intInRange(min: number, max: number, fallback: number) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `expects a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });
}

function optionalUrl(what: string) {
  return optionalString.refine((value) => value === undefined || URL.canParse(value), {
    message: `expects ${what}`,
  });
}

/**
 * Every environment variable forgebot reads. Names in DESIGN.md's contract are kept verbatim;
 * the rest are operational knobs with production defaults.
 */
export const envSchema = z.object({
  APP_ID: optionalString.refine((v) => v === undefined || /^\d+$/.test(v), {
    message: "expects the numeric GitHub App id",
  }),
  PRIVATE_KEY: optionalString,
  PRIVATE_KEY_PATH: optionalString,
  WEBHOOK_SECRET: optionalString,
  GHE_HOST: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9.-]+(:\d+)?$/.test(v), {
    message: "expects a host name such as github.example.com (no scheme, no path)",
  }),
  GHE_PROTOCOL: z.enum(["http", "https"], { message: "expects http or https" }).default("https"),
  GITLAB_URL: optionalUrl("a URL such as https://gitlab.com").default("https://gitlab.com"),
  GITLAB_TOKEN: optionalString,
  GITLAB_WEBHOOK_SECRET: optionalString,
  BOT_HANDLE: optionalString.refine((v) => v === undefined || /^@?[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v), {
    message: "expects a user name such as forgebot",
  }),
  DATABASE_URL: optionalUrl("a postgres:// connection URL"),
  REDIS_URL: optionalUrl("a redis:// connection URL"),
  PUBLIC_URL: optionalUrl("the bot's public base URL, such as https://forgebot.example.com"),
  SESSION_LINK_SECRET: optionalString,
  PORT: intInRange(0, 65535, 3000),
  HOST: optionalString,
  LOG_LEVEL: z
    .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
      message: "expects one of trace, debug, info, warn, error, fatal, silent",
    })
    .default("info"),
  OPENAI_BASE_URL: optionalUrl("an OpenAI-compatible API base URL"),
  OPENAI_API_KEY: optionalString,
  OPENAI_MODEL: optionalString,
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl("an Anthropic API base URL"),
  ANTHROPIC_MODEL: optionalString,
  MODELS_FILE: optionalString,
  /** Agent limits per session: steps, tokens (in + out) and wall-clock time; each ends with a fixed reply. */
  AGENT_MAX_STEPS: intInRange(1, 1000, 30),
  AGENT_MAX_TOKENS: intInRange(1000, 100_000_000, 2_000_000),
  AGENT_TIMEOUT_MS: intInRange(1000, 24 * 3_600_000, 15 * 60_000),
  /** One model call's time limit, and the AI SDK's retries of a failed call (429, 5xx, network). */
  AGENT_MODEL_TIMEOUT_MS: intInRange(100, 3_600_000, 120_000),
  AGENT_MODEL_RETRIES: intInRange(0, 10, 2),
  /** Token budget for earlier sessions' messages in the same thread (thread memory). */
  AGENT_MEMORY_TOKENS: intInRange(0, 1_000_000, 16_000),
  ADMIN_TOKEN: optionalString,
  /** Sign-in with GitHub: the GitHub App's client id and secret (user authorization). */
  GITHUB_CLIENT_ID: optionalString,
  GITHUB_CLIENT_SECRET: optionalString,
  /** Sign-in with GitLab: an OAuth application (scope read_user). */
  GITLAB_OAUTH_CLIENT_ID: optionalString,
  GITLAB_OAUTH_CLIENT_SECRET: optionalString,
  /** Operators who may open the session list once signed in: `github:octocat,gitlab:root`. */
  ADMIN_USERS: optionalString.refine((v) => v === undefined || v.split(",").every((entry) => /^\s*(github|gitlab):[A-Za-z0-9][A-Za-z0-9_.-]*\s*$/.test(entry)), {
    message: "expects forge:login entries separated by commas, such as github:octocat,gitlab:root",
  }),
  /** How long a signed-in user's permission on a repository is trusted before it is asked again (at most a minute). */
  PERMISSION_CACHE_MS: intInRange(0, 60_000, 60_000),
  DATA_DIR: optionalString.default(".data"),
  /** Port of the embedded Postgres started when DATABASE_URL is unset. */
  EMBEDDED_PG_PORT: intInRange(1, 65535, 54329),
  /** One GitHub REST request's time limit. */
  GITHUB_REQUEST_TIMEOUT_MS: intInRange(100, 600_000, 30_000),
  /** GitHub repository roles that may start sessions. */
  GITHUB_ALLOWED_ROLES: optionalString.default("admin,maintain,write"),
  /** GitLab access level that may start sessions (30 = Developer). */
  GITLAB_MIN_ACCESS_LEVEL: intInRange(10, 50, 30),
  /** Notes the bot may create per minute (GitLab.com allows 60 per user). */
  GITLAB_NOTES_PER_MINUTE: intInRange(1, 10_000, 60),
  /**
   * GitHub's documented secondary limits on content-creating requests (note posts): ~80 a
   * minute and 500 an hour.
   */
  GITHUB_WRITES_PER_MINUTE: intInRange(1, 100_000, 80),
  GITHUB_WRITES_PER_HOUR: intInRange(1, 1_000_000, 500),
  /** Deletes create no content: they only spend REST points (900 a minute, 5 a write). */
  GITHUB_DELETES_PER_MINUTE: intInRange(1, 100_000, 120),
  /**
   * The length of the write budgets' "minute" (the hourly window is 60 of them). Only tests and
   * benchmarks shorten it, to see a window roll over in seconds.
   */
  WRITE_BUDGET_WINDOW_MS: intInRange(1000, 60_000, 60_000),
  GITLAB_DELETES_PER_MINUTE: intInRange(1, 100_000, 300),
  /**
   * Postgres connections one process may hold, whatever its concurrency (the feature flags'
   * LISTEN connection comes on top). With the queue on Postgres, its pool is part of it.
   */
  DATABASE_POOL_MAX: intInRange(4, 1000, 10),
  SESSION_CONCURRENCY: intInRange(1, 1000, 10),
  LIFECYCLE_CONCURRENCY: intInRange(1, 1000, 20),
  /** How long a worker holds a job lock before BullMQ treats it as stalled. */
  JOB_LOCK_MS: intInRange(1000, 3_600_000, 30_000),
  JOB_STALLED_INTERVAL_MS: intInRange(500, 3_600_000, 30_000),
  HEARTBEAT_TIMEOUT_MINUTES: intInRange(1, 10_080, 30),
  /** How often each worker process runs the reaper (stale sessions, unfinished deliveries). */
  REAPER_INTERVAL_MS: intInRange(100, 3_600_000, 60_000),
  /** How often a worker process reconciles Postgres with the queue, and how old a row must be first. */
  RECONCILE_INTERVAL_MS: intInRange(100, 3_600_000, 30_000),
  RECONCILE_GRACE_MS: intInRange(0, 3_600_000, 60_000),
  MAX_WEBHOOK_BYTES: intInRange(1024, 100 * 1024 * 1024, 25 * 1024 * 1024),
  QUEUE_PREFIX: optionalString.default("forgebot"),
  /** Feature flag definitions (default: config/feature_flags/ at the repository root). */
  FEATURE_FLAGS_DIR: optionalString,
  /** Feature flag groups: YAML mapping of group name → actor ids (default: config/feature_groups.yml). */
  FEATURE_GROUPS_FILE: optionalString,
  /** Where change sessions' workspaces live (default: `<DATA_DIR>/workspaces`), one directory per session. */
  WORKSPACE_DIR: optionalString,
  /** Largest a workspace may grow: checked while the snapshot is extracted and after every command. */
  WORKSPACE_MAX_BYTES: intInRange(1024 * 1024, 1_000_000_000_000, 500 * 1024 * 1024),
  /** How `run` executes commands: `bwrap` (bubblewrap), or `off` for trusted single-tenant installs. */
  SANDBOX: z.enum(["bwrap", "off"], { message: "expects bwrap or off" }).default("bwrap"),
  /** Wall-clock limit of one sandboxed command; the whole process tree is killed at the limit. */
  SANDBOX_COMMAND_TIMEOUT_MS: intInRange(1000, 3_600_000, 120_000),
  /** Most files one change session may change, and the largest patch it may produce. */
  CHANGE_MAX_FILES: intInRange(1, 100_000, 100),
  CHANGE_MAX_PATCH_BYTES: intInRange(1024, 1024 * 1024 * 1024, 1024 * 1024),
  /** Whether a change waits for `@forgebot apply` before it is published (`always`) or is published at once (`never`). */
  CHANGE_APPROVAL: z.enum(["always", "never"], { message: "expects always or never" }).default("always"),
  /** `test` makes checking an undefined feature flag an error instead of a logged warning. */
  NODE_ENV: optionalString,
});

export type Env = z.input<typeof envSchema>;
export type ParsedEnv = z.output<typeof envSchema>;
