import type { ProbotOctokit } from "probot";
import type { Config } from "../config/index.js";
import type { Logger } from "../logging/logger.js";
import type { AcceptEvent, Forge, ForgeName, ForgeProfile } from "../sessions/forge-port.js";
import type { ForgeProvider } from "../sessions/ports.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import { createGitHubApp } from "./github/app.js";
import { createGitHubSignIn } from "./github/oauth.js";
import { githubProfile } from "./github/profile.js";
import { createGitLabApp } from "./gitlab/app.js";
import { createGitLabSignIn } from "./gitlab/oauth.js";
import { gitlabProfile } from "./gitlab/profile.js";
import { createWebhookHandler, type WebhookHandler, type WebhookSource } from "./webhook.js";
import { withWriteBudget, type WriteBudget } from "./write-budget.js";
import { sendJson } from "../web/http.js";

/** Every forge's words, configured or not (a page may show a session of a forge since removed). */
const PROFILES: Record<ForgeName, ForgeProfile> = { github: githubProfile, gitlab: gitlabProfile };

export function profileFor(name: ForgeName): ForgeProfile {
  return PROFILES[name];
}

export type Forges = {
  /** The configured forges, each write through the write budget, and who the bot is on each. */
  provider: ForgeProvider;
  /**
   * The webhook routes' handlers, built on `accept`. A forge that is not configured answers 503
   * and names what to set.
   */
  webhooks(accept: AcceptEvent, maxBodyBytes: number): Record<ForgeName, WebhookHandler>;
};

export type ForgeOptions = {
  log: Logger;
  writes: WriteBudget;
  /** Tests: an Octokit with retry and throttling off. */
  githubOctokit?: typeof ProbotOctokit;
};

const SELF_LOOKUP_TIMEOUT_MS = 5000;

const NOT_CONFIGURED: Record<ForgeName, string> = {
  github: "GitHub is not configured: set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET",
  gitlab: "GitLab is not configured: set GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET",
};

async function bounded<T>(lookup: Promise<T | null>, log: Logger, forge: ForgeName): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), SELF_LOOKUP_TIMEOUT_MS);
  });
  const result = await Promise.race([lookup, timeout]).finally(() => clearTimeout(timer));
  if (result === null) log.warn({ forge }, "could not identify the bot user at start; using the configured handle");
  return result;
}

/**
 * The only place that knows which forges are configured and builds their adapters. Who the bot
 * is on each forge (its handle and the users never to answer) is settled here, before any
 * webhook handler exists: `BOT_HANDLE`, else the GitHub App's slug or the GitLab token's user.
 * Start-up never waits on an unreachable forge for more than a few seconds.
 */
export async function createForges(config: Config, options: ForgeOptions): Promise<Forges> {
  const { log, writes } = options;
  const configured = new Map<ForgeName, { forge: Forge; handle: string }>();
  const sources: Partial<Record<ForgeName, WebhookSource>> = {};

  if (config.github) {
    const github = createGitHubApp({ config: config.github, log, ...(options.githubOctokit ? { Octokit: options.githubOctokit } : {}) });
    const handle = config.botHandle ?? (await bounded(github.fetchSlug(), log, "github")) ?? "forgebot";
    configured.set("github", { forge: withWriteBudget(github.forge, writes, github.writeScope), handle });
    sources.github = github.webhookSource({ selfLogins: [handle, `${handle}[bot]`] });
  }
  if (config.gitlab) {
    const gitlab = createGitLabApp({ config: config.gitlab, log });
    // The token's user is "self" (never answered); its username is the handle unless BOT_HANDLE is set.
    const self = await bounded(gitlab.fetchSelf(), log, "gitlab");
    const handle = config.botHandle ?? self?.username ?? "forgebot";
    configured.set("gitlab", { forge: withWriteBudget(gitlab.forge, writes, gitlab.writeScope), handle });
    sources.gitlab = gitlab.webhookSource({ self, selfUsernames: [handle] });
  }

  function entry(name: ForgeName) {
    const found = configured.get(name);
    if (!found) throw new Error(`forge ${name} is not configured`);
    return found;
  }
  return {
    provider: {
      forgeFor: (name) => entry(name).forge,
      handleFor: (name) => configured.get(name)?.handle ?? config.botHandle ?? "forgebot",
      profileFor,
    },
    webhooks(accept, maxBodyBytes) {
      const handler = (name: ForgeName): WebhookHandler => {
        const source = sources[name];
        if (source) return createWebhookHandler(source, { accept, maxBodyBytes, log });
        return async (req, res) => {
          req.resume();
          sendJson(res, 503, { error: NOT_CONFIGURED[name] });
        };
      };
      return { github: handler("github"), gitlab: handler("gitlab") };
    },
  };
}

/** Sign-in for each forge whose OAuth client is configured (config.signIn); the others have none. */
export function createSignIns(config: Config, log: Logger): Partial<Record<ForgeName, SignInProvider>> {
  return {
    ...(config.signIn.github ? { github: createGitHubSignIn(config.signIn.github, log) } : {}),
    ...(config.signIn.gitlab ? { gitlab: createGitLabSignIn(config.signIn.gitlab, log) } : {}),
  };
}
