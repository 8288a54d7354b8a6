import type { ProbotOctokit } from "probot";
import type { Config, GitHubConfig, GitLabConfig } from "../config/index.js";
import type { Logger } from "../logging/logger.js";
import type { Forge } from "../sessions/forge-port.js";
import type { ForgeStatus, GitHubAppCredentials, GitLabCredentials } from "../sessions/setup-port.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import { createGitHubApp, type GitHubApp } from "./github/app.js";
import { createGitHubSignIn } from "./github/oauth.js";
import { createGitLabApp, type GitLabApp, type GitLabUser } from "./gitlab/app.js";
import { createGitLabSignIn } from "./gitlab/oauth.js";
import type { Slotted } from "./slots.js";
import type { WebhookSource } from "./webhook.js";
import { withWriteBudget, type WriteBudget } from "./write-budget.js";

/**
 * One configured forge, built whole before any request can see it: its client factory (every
 * write through the write budget), who the bot is there (the handle and the users never to
 * answer), its webhook source, its sign-in and what pages may say about it.
 */
export type ForgeEntry = Slotted & {
  forge: Forge;
  handle: string;
  source: WebhookSource;
  signIn: SignInProvider | null;
  status: ForgeStatus;
};

export type EntryOptions = {
  config: Config;
  log: Logger;
  writes: WriteBudget;
  /** Tests: an Octokit with retry and throttling off. */
  githubOctokit?: typeof ProbotOctokit;
};

const SELF_LOOKUP_TIMEOUT_MS = 5000;

async function bounded<T>(lookup: Promise<T | null>, log: Logger, forge: string): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), SELF_LOOKUP_TIMEOUT_MS);
  });
  const result = await Promise.race([lookup, timeout]).finally(() => clearTimeout(timer));
  if (result === null) log.warn({ forge }, "could not identify the bot user at start; using the configured handle");
  return result;
}

function newGitHubApp(options: EntryOptions, github: GitHubConfig): GitHubApp {
  return createGitHubApp({ config: github, log: options.log, ...(options.githubOctokit ? { Octokit: options.githubOctokit } : {}) });
}

function githubEntry(options: EntryOptions, app: GitHubApp, github: GitHubConfig, handle: string, extra: { selfLogins: string[]; signIn: SignInProvider | null; status: Omit<ForgeStatus, "forge" | "host" | "handle"> }, version: number): ForgeEntry {
  const selfLogins = [...new Set([handle, `${handle}[bot]`, ...extra.selfLogins])];
  return {
    origin: extra.status.origin,
    version,
    forge: withWriteBudget(app.forge, options.writes, app.writeScope),
    handle,
    source: app.webhookSource({ selfLogins }),
    signIn: extra.signIn,
    status: { forge: "github", host: github.host, handle, ...extra.status },
  };
}

function gitlabEntry(options: EntryOptions, app: GitLabApp, gitlab: GitLabConfig, self: GitLabUser | null, handle: string, extra: { signIn: SignInProvider | null; status: Omit<ForgeStatus, "forge" | "host" | "handle"> }, version: number): ForgeEntry {
  return {
    origin: extra.status.origin,
    version,
    forge: withWriteBudget(app.forge, options.writes, app.writeScope),
    handle,
    // The token's user is "self" (never answered); its username is the handle unless BOT_HANDLE is set.
    source: app.webhookSource({ self, selfUsernames: [handle] }),
    signIn: extra.signIn,
    status: { forge: "gitlab", host: gitlab.host, handle, ...extra.status },
  };
}

const NO_STORE = { storedAt: null, storedBy: null } as const;

/** GitHub from APP_ID, PRIVATE_KEY and WEBHOOK_SECRET: the handle is BOT_HANDLE, else the app's slug (asked at start, a few seconds at most). */
export async function githubFromEnv(options: EntryOptions, github: GitHubConfig): Promise<ForgeEntry> {
  const { config, log } = options;
  const app = newGitHubApp(options, github);
  const slug = config.botHandle ? null : await bounded(app.fetchSlug(), log, "github");
  const signIn = config.signIn.github ? createGitHubSignIn(config.signIn.github, log) : null;
  const about = { id: github.appId, slug, htmlUrl: null, owner: null };
  return githubEntry(options, app, github, config.botHandle ?? slug ?? "forgebot", { selfLogins: [], signIn, status: { origin: "env", app: about, botUser: null, ...NO_STORE } }, 0);
}

/** GitLab from GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET: the handle is BOT_HANDLE, else the token's user (asked at start). */
export async function gitlabFromEnv(options: EntryOptions, gitlab: GitLabConfig): Promise<ForgeEntry> {
  const { config, log } = options;
  const app = createGitLabApp({ config: gitlab, log });
  const self = await bounded(app.fetchSelf(), log, "gitlab");
  const signIn = config.signIn.gitlab ? createGitLabSignIn(config.signIn.gitlab, log) : null;
  const botUser = self ? { id: self.id, username: self.username } : null;
  return gitlabEntry(options, app, gitlab, self, config.botHandle ?? self?.username ?? "forgebot", { signIn, status: { origin: "env", app: null, botUser, ...NO_STORE } }, 0);
}

/**
 * A GitHub App the setup page registered: everything needed is stored (the slug included), so
 * building it asks GitHub nothing. Its OAuth client gives sign-in with GitHub.
 */
export function githubFromStore(options: EntryOptions, stored: GitHubAppCredentials & { version: number; storedAt: Date; storedBy: string }): ForgeEntry {
  const { config, log } = options;
  const target = config.forgeTargets.github;
  const github: GitHubConfig = {
    appId: stored.appId,
    privateKey: stored.secrets.privateKey,
    webhookSecret: stored.secrets.webhookSecret,
    baseUrl: stored.apiUrl,
    host: stored.host,
    allowedRoles: target.allowedRoles,
    requestTimeoutMs: target.requestTimeoutMs,
  };
  const signIn = createGitHubSignIn({ clientId: stored.clientId, clientSecret: stored.secrets.clientSecret, webUrl: stored.webUrl, apiUrl: stored.apiUrl, host: stored.host }, log);
  const about = { id: stored.appId, slug: stored.slug, htmlUrl: stored.htmlUrl, owner: stored.owner };
  return githubEntry(options, newGitHubApp(options, github), github, config.botHandle ?? stored.slug, { selfLogins: [stored.slug, `${stored.slug}[bot]`], signIn, status: { origin: "setup", app: about, botUser: null, storedAt: stored.storedAt, storedBy: stored.storedBy } }, stored.version);
}

/** A GitLab bot user the setup page checked and stored: its user is known, so building it asks GitLab nothing. */
export function gitlabFromStore(options: EntryOptions, stored: GitLabCredentials & { version: number; storedAt: Date; storedBy: string }): ForgeEntry {
  const { config } = options;
  const gitlab: GitLabConfig = { url: stored.url, host: stored.host, token: stored.secrets.token, webhookSecret: stored.secrets.webhookSecret, minAccessLevel: config.forgeTargets.gitlab.minAccessLevel };
  const self = { id: stored.userId, username: stored.username };
  // GitLab sign-in stays an environment setting (an OAuth application of its own, GITLAB_OAUTH_CLIENT_*).
  return gitlabEntry(options, createGitLabApp({ config: gitlab, log: options.log }), gitlab, self, config.botHandle ?? stored.username, { signIn: null, status: { origin: "setup", app: null, botUser: self, storedAt: stored.storedAt, storedBy: stored.storedBy } }, stored.version);
}
