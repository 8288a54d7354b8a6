import { readFileSync } from "node:fs";
import path from "node:path";
import { envSchema, type ParsedEnv } from "./schema.js";

/** Raised when the environment cannot run forgebot; `message` is one line naming the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type GitHubConfig = {
  appId: string;
  privateKey: string;
  webhookSecret: string;
  /** REST base URL: https://api.github.com or {GHE_PROTOCOL}://{GHE_HOST}/api/v3. */
  baseUrl: string;
  /** The host recorded on sessions (github.com or the GHES host). */
  host: string;
  allowedRoles: readonly string[];
  /** One REST request's time limit (GITHUB_REQUEST_TIMEOUT_MS); a hung request fails and is retried. */
  requestTimeoutMs: number;
};

export type GitLabConfig = {
  url: string;
  host: string;
  token: string;
  webhookSecret: string;
  minAccessLevel: number;
};

/** An OAuth client of a forge, for sign-in (forges/<forge>/oauth.ts). */
export type GitHubSignInConfig = {
  clientId: string;
  clientSecret: string;
  /** Where the browser signs in: https://github.com or {GHE_PROTOCOL}://{GHE_HOST} (not /api/v3). */
  webUrl: string;
  /** The REST API the user is read from (GitHubConfig.baseUrl). */
  apiUrl: string;
  host: string;
};

export type GitLabSignInConfig = { clientId: string; clientSecret: string; url: string; host: string };

/** What to set for sign-in with each forge (start-up logs name them while sign-in is off). */
export const SIGN_IN_ENV = {
  github: "GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET",
  gitlab: "GITLAB_OAUTH_CLIENT_ID, GITLAB_OAUTH_CLIENT_SECRET",
} as const;

export type SignInConfig = {
  github: GitHubSignInConfig | null;
  gitlab: GitLabSignInConfig | null;
  /** `forge:login` in lower case: signed-in users who may open the operators' list. */
  adminUsers: readonly string[];
  /** How long a permission answer is reused for one user and repository (≤ 60 s). */
  permissionCacheMs: number;
};

/**
 * Where each forge is, configured or not: the setup page registers the bot there, and credentials
 * it stores are used with these settings (who may spend, timeouts).
 */
export type ForgeTargets = {
  github: { host: string; apiUrl: string; webUrl: string; allowedRoles: readonly string[]; requestTimeoutMs: number };
  gitlab: { url: string; host: string; minAccessLevel: number };
};

export type Config = Readonly<{
  github: GitHubConfig | null;
  gitlab: GitLabConfig | null;
  forgeTargets: ForgeTargets;
  /** Null when the bot should use the app's slug (GitHub) or token user (GitLab). */
  botHandle: string | null;
  databaseUrl: string | null;
  /** DATABASE_POOL_MAX: every Postgres connection of this process but the LISTEN one. */
  databasePoolMax: number;
  redisUrl: string | null;
  publicUrl: string;
  sessionLinkSecret: string | null;
  port: number;
  host: string | undefined;
  logLevel: ParsedEnv["LOG_LEVEL"];
  dataDir: string;
  embeddedPgPort: number;
  adminToken: string | null;
  /** Sign-in through the forges; a forge without its client id and secret has no sign-in. */
  signIn: SignInConfig;
  models: {
    openaiBaseUrl: string | undefined;
    openaiApiKey: string | undefined;
    openaiModel: string | undefined;
    anthropicApiKey: string | undefined;
    anthropicBaseUrl: string | undefined;
    anthropicModel: string | undefined;
    modelsFile: string | undefined;
  };
  /** Per-session agent limits and model-call settings. */
  agent: {
    maxSteps: number;
    /** Input plus output tokens over the whole session. */
    maxTokens: number;
    /** Wall-clock time the session may spend running (summed over its runs). */
    timeoutMs: number;
    modelTimeoutMs: number;
    modelRetries: number;
    /** Token budget for earlier sessions' messages (thread memory). */
    memoryTokens: number;
  };
  queue: {
    prefix: string;
    sessionConcurrency: number;
    lifecycleConcurrency: number;
    lockMs: number;
    stalledIntervalMs: number;
  };
  /** Forge write budgets (see src/forges/write-budget.ts); `windowMs` is the length of their minute. */
  writeLimits: {
    github: { perMinute: number; perHour: number | null; deletesPerMinute: number };
    gitlab: { perMinute: number; perHour: number | null; deletesPerMinute: number };
    windowMs: number;
  };
  heartbeatTimeoutMs: number;
  reaperIntervalMs: number;
  /** Reconciler (src/lifecycle/reconciler.ts): pass interval and the age a row must reach. */
  reconcile: { intervalMs: number; graceMs: number };
  maxWebhookBytes: number;
  /** Feature flags: unset paths mean config/feature_flags/ and config/feature_groups.yml. */
  flags: { definitionsDir: string | undefined; groupsFile: string | undefined; strict: boolean };
  /** Change sessions: where workspaces live and how large they may grow. */
  workspace: { dir: string; maxBytes: number };
  /** How `run` executes commands (`SANDBOX`), and its wall-clock limit per command. */
  sandbox: { mode: "bwrap" | "off"; commandTimeoutMs: number };
  /** What one change session may change (files, patch bytes), and whether it waits for `@forgebot apply` (CHANGE_APPROVAL). */
  change: { maxFiles: number; maxPatchBytes: number; approval: "always" | "never" };
  /** The environment as given, for libraries that resolve their own key variables (MODELS_FILE). */
  env: Readonly<Record<string, string | undefined>>;
}>;

function firstIssueLine(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (!issue) return "invalid configuration";
  return `${String(issue.path[0] ?? "environment")}: ${issue.message}`;
}

function readPrivateKey(env: ParsedEnv): string | undefined {
  if (env.PRIVATE_KEY) return env.PRIVATE_KEY.replace(/\\n/g, "\n");
  if (!env.PRIVATE_KEY_PATH) return undefined;
  try {
    return readFileSync(env.PRIVATE_KEY_PATH, "utf8");
  } catch (err: unknown) {
    throw new ConfigError(`PRIVATE_KEY_PATH: cannot read ${env.PRIVATE_KEY_PATH} (${(err as Error).message})`);
  }
}

function githubConfig(env: ParsedEnv, target: ForgeTargets["github"]): GitHubConfig | null {
  const privateKey = readPrivateKey(env);
  const given = [env.APP_ID, privateKey, env.WEBHOOK_SECRET].filter(Boolean).length;
  if (given === 0) return null;
  if (!env.APP_ID) throw new ConfigError("APP_ID: expects the numeric GitHub App id (PRIVATE_KEY or WEBHOOK_SECRET is set)");
  if (!privateKey) throw new ConfigError("PRIVATE_KEY: expects the GitHub App's PEM private key (or PRIVATE_KEY_PATH)");
  if (!privateKey.includes("PRIVATE KEY")) throw new ConfigError("PRIVATE_KEY: expects a PEM private key");
  if (!env.WEBHOOK_SECRET) throw new ConfigError("WEBHOOK_SECRET: expects the GitHub App's webhook secret");
  const { host, apiUrl: baseUrl, allowedRoles, requestTimeoutMs } = target;
  return { appId: env.APP_ID, privateKey, webhookSecret: env.WEBHOOK_SECRET, baseUrl, host, allowedRoles, requestTimeoutMs };
}

function gitlabConfig(env: ParsedEnv, target: ForgeTargets["gitlab"]): GitLabConfig | null {
  if (!env.GITLAB_TOKEN && !env.GITLAB_WEBHOOK_SECRET) return null;
  if (!env.GITLAB_TOKEN) throw new ConfigError("GITLAB_TOKEN: expects a GitLab access token with the api scope");
  if (!env.GITLAB_WEBHOOK_SECRET) {
    throw new ConfigError("GITLAB_WEBHOOK_SECRET: expects the secret token set on the GitLab webhook");
  }
  return { url: target.url, host: target.host, token: env.GITLAB_TOKEN, webhookSecret: env.GITLAB_WEBHOOK_SECRET, minAccessLevel: target.minAccessLevel };
}

function forgeTargets(env: ParsedEnv): ForgeTargets {
  const webUrl = env.GHE_HOST ? `${env.GHE_PROTOCOL}://${env.GHE_HOST}` : "https://github.com";
  const gitlabUrl = env.GITLAB_URL.replace(/\/+$/, "");
  return {
    github: {
      host: env.GHE_HOST ?? "github.com",
      apiUrl: env.GHE_HOST ? `${webUrl}/api/v3` : "https://api.github.com",
      webUrl,
      allowedRoles: env.GITHUB_ALLOWED_ROLES.split(",").map((r) => r.trim().toLowerCase()).filter(Boolean),
      requestTimeoutMs: env.GITHUB_REQUEST_TIMEOUT_MS,
    },
    gitlab: { url: gitlabUrl, host: new URL(gitlabUrl).host, minAccessLevel: env.GITLAB_MIN_ACCESS_LEVEL },
  };
}

function oauthPair(id: string | undefined, secret: string | undefined, names: [string, string]): { clientId: string; clientSecret: string } | null {
  if (!id && !secret) return null;
  if (!id) throw new ConfigError(`${names[0]}: expects the OAuth client id (${names[1]} is set)`);
  if (!secret) throw new ConfigError(`${names[1]}: expects the OAuth client secret (${names[0]} is set)`);
  return { clientId: id, clientSecret: secret };
}

/** Sign-in needs the forge itself configured: permissions are asked with the bot's own credentials. */
function signInConfig(env: ParsedEnv, targets: ForgeTargets, github: GitHubConfig | null, gitlab: GitLabConfig | null): SignInConfig {
  const githubPair = oauthPair(env.GITHUB_CLIENT_ID, env.GITHUB_CLIENT_SECRET, ["GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]);
  if (githubPair && !github) throw new ConfigError("GITHUB_CLIENT_ID: sign-in with GitHub needs the GitHub App too (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET)");
  const gitlabPair = oauthPair(env.GITLAB_OAUTH_CLIENT_ID, env.GITLAB_OAUTH_CLIENT_SECRET, ["GITLAB_OAUTH_CLIENT_ID", "GITLAB_OAUTH_CLIENT_SECRET"]);
  if (gitlabPair && !gitlab) throw new ConfigError("GITLAB_OAUTH_CLIENT_ID: sign-in with GitLab needs GitLab configured too (GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET)");
  const { webUrl } = targets.github;
  return {
    github: githubPair && github ? { ...githubPair, webUrl, apiUrl: github.baseUrl, host: github.host } : null,
    gitlab: gitlabPair && gitlab ? { ...gitlabPair, url: gitlab.url, host: gitlab.host } : null,
    adminUsers: (env.ADMIN_USERS ?? "").split(",").map((u) => u.trim().toLowerCase()).filter(Boolean),
    permissionCacheMs: env.PERMISSION_CACHE_MS,
  };
}

/**
 * Parses the environment once into a frozen Config. Throws ConfigError with a single line
 * (`NAME: what it expects`) so start-up failures are readable.
 */
export function loadConfig(raw: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(firstIssueLine(parsed.error));
  const env = parsed.data;
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, "");
  const targets = forgeTargets(env);
  const github = githubConfig(env, targets.github);
  const gitlab = gitlabConfig(env, targets.gitlab);
  return Object.freeze({
    github,
    gitlab,
    forgeTargets: targets,
    botHandle: env.BOT_HANDLE ? env.BOT_HANDLE.replace(/^@/, "") : null,
    databaseUrl: env.DATABASE_URL ?? null,
    databasePoolMax: env.DATABASE_POOL_MAX,
    redisUrl: env.REDIS_URL ?? null,
    publicUrl,
    sessionLinkSecret: env.SESSION_LINK_SECRET ?? null,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    dataDir: path.resolve(env.DATA_DIR),
    embeddedPgPort: env.EMBEDDED_PG_PORT,
    adminToken: env.ADMIN_TOKEN ?? null,
    signIn: signInConfig(env, targets, github, gitlab),
    models: {
      openaiBaseUrl: env.OPENAI_BASE_URL,
      openaiApiKey: env.OPENAI_API_KEY,
      openaiModel: env.OPENAI_MODEL,
      anthropicApiKey: env.ANTHROPIC_API_KEY,
      anthropicBaseUrl: env.ANTHROPIC_BASE_URL,
      anthropicModel: env.ANTHROPIC_MODEL,
      modelsFile: env.MODELS_FILE,
    },
    agent: {
      maxSteps: env.AGENT_MAX_STEPS,
      maxTokens: env.AGENT_MAX_TOKENS,
      timeoutMs: env.AGENT_TIMEOUT_MS,
      modelTimeoutMs: env.AGENT_MODEL_TIMEOUT_MS,
      modelRetries: env.AGENT_MODEL_RETRIES,
      memoryTokens: env.AGENT_MEMORY_TOKENS,
    },
    queue: {
      prefix: env.QUEUE_PREFIX,
      sessionConcurrency: env.SESSION_CONCURRENCY,
      lifecycleConcurrency: env.LIFECYCLE_CONCURRENCY,
      lockMs: env.JOB_LOCK_MS,
      stalledIntervalMs: env.JOB_STALLED_INTERVAL_MS,
    },
    writeLimits: {
      github: { perMinute: env.GITHUB_WRITES_PER_MINUTE, perHour: env.GITHUB_WRITES_PER_HOUR, deletesPerMinute: env.GITHUB_DELETES_PER_MINUTE },
      gitlab: { perMinute: env.GITLAB_NOTES_PER_MINUTE, perHour: null, deletesPerMinute: env.GITLAB_DELETES_PER_MINUTE },
      windowMs: env.WRITE_BUDGET_WINDOW_MS,
    },
    heartbeatTimeoutMs: env.HEARTBEAT_TIMEOUT_MINUTES * 60_000,
    reaperIntervalMs: env.REAPER_INTERVAL_MS,
    reconcile: { intervalMs: env.RECONCILE_INTERVAL_MS, graceMs: env.RECONCILE_GRACE_MS },
    maxWebhookBytes: env.MAX_WEBHOOK_BYTES,
    flags: {
      definitionsDir: env.FEATURE_FLAGS_DIR ? path.resolve(env.FEATURE_FLAGS_DIR) : undefined,
      groupsFile: env.FEATURE_GROUPS_FILE ? path.resolve(env.FEATURE_GROUPS_FILE) : undefined,
      strict: env.NODE_ENV === "test",
    },
    workspace: {
      dir: path.resolve(env.WORKSPACE_DIR ?? path.join(env.DATA_DIR, "workspaces")),
      maxBytes: env.WORKSPACE_MAX_BYTES,
    },
    sandbox: { mode: env.SANDBOX, commandTimeoutMs: env.SANDBOX_COMMAND_TIMEOUT_MS },
    change: { maxFiles: env.CHANGE_MAX_FILES, maxPatchBytes: env.CHANGE_MAX_PATCH_BYTES, approval: env.CHANGE_APPROVAL },
    env: Object.freeze({ ...raw }),
  });
}
