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

const booleanSwitch = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return fallback;
      const v = value.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      ctx.addIssue({ code: "custom", message: "expects true or false" });
      return z.NEVER;
    });

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
  ADMIN_TOKEN: optionalString,
  DATA_DIR: optionalString.default(".data"),
  /** Port of the embedded Postgres started when DATABASE_URL is unset. */
  EMBEDDED_PG_PORT: intInRange(1, 65535, 54329),
  /** GitHub repository roles that may start sessions. */
  GITHUB_ALLOWED_ROLES: optionalString.default("admin,maintain,write"),
  /** GitLab access level that may start sessions (30 = Developer). */
  GITLAB_MIN_ACCESS_LEVEL: intInRange(10, 50, 30),
  SESSION_CONCURRENCY: intInRange(1, 1000, 10),
  LIFECYCLE_CONCURRENCY: intInRange(1, 1000, 20),
  /** How long a worker holds a job lock before BullMQ treats it as stalled. */
  JOB_LOCK_MS: intInRange(1000, 3_600_000, 30_000),
  JOB_STALLED_INTERVAL_MS: intInRange(500, 3_600_000, 30_000),
  HEARTBEAT_TIMEOUT_MINUTES: intInRange(1, 10_080, 30),
  MAX_WEBHOOK_BYTES: intInRange(1024, 100 * 1024 * 1024, 25 * 1024 * 1024),
  PROVIDER_STICKINESS: booleanSwitch(true),
  MANUAL_RETRY: booleanSwitch(true),
  QUEUE_PREFIX: optionalString.default("forgebot"),
});

export type Env = z.input<typeof envSchema>;
export type ParsedEnv = z.output<typeof envSchema>;
