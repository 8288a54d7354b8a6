import type { ProbotOctokit } from "probot";
import type { Config } from "../config/index.js";
import type { Logger } from "../logging/logger.js";
import { ForgeNotConfiguredError } from "../sessions/errors.js";
import { FORGE_NAMES, type AcceptEvent, type Forge, type ForgeName, type ForgeProfile } from "../sessions/forge-port.js";
import type { ForgeProvider } from "../sessions/ports.js";
import type { CredentialStore, ForgeDirectory, ForgeSetup } from "../sessions/setup-port.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import { githubFromEnv, githubFromStore, gitlabFromEnv, gitlabFromStore, type ForgeEntry } from "./entries.js";
import { githubProfile } from "./github/profile.js";
import { createGitHubAppSetup } from "./github/setup.js";
import { gitlabProfile } from "./gitlab/profile.js";
import { createGitLabSetup } from "./gitlab/setup.js";
import { createForgeSlots } from "./slots.js";
import { parseMention } from "./mention.js";
import { createWebhookHandler, type WebhookHandler } from "./webhook.js";
import type { WriteBudget } from "./write-budget.js";
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
   * and names what to set (after asking the store whether the setup page has added it since).
   */
  webhooks(accept: AcceptEvent, maxBodyBytes: number): Record<ForgeName, WebhookHandler>;
  /** Sign-in per forge, as configured right now (a forge added by the setup page brings its own). */
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  /** The configured forges for pages, and adding one while the bot runs (the setup page). */
  directory: ForgeDirectory;
};

export type ForgeOptions = {
  log: Logger;
  writes: WriteBudget;
  /** Forge credentials the setup page stored; without it only the environment configures forges. */
  credentials?: CredentialStore;
  /** Tests: an Octokit with retry and throttling off. */
  githubOctokit?: typeof ProbotOctokit;
};

const NOT_CONFIGURED: Record<ForgeName, string> = {
  github: "GitHub is not configured: open the setup page (GET /) or set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET",
  gitlab: "GitLab is not configured: open the setup page (GET /) or set GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET",
};

/**
 * The only place that knows which forges are configured and builds their adapters. Forges the
 * environment configures are built at start, with who the bot is on each (`BOT_HANDLE`, else the
 * GitHub App's slug or the GitLab token's user) settled before any webhook handler exists; start-up
 * never waits on an unreachable forge for more than a few seconds. Forges the setup page stores
 * are built whole from the store (their identity is stored with them) when this process first
 * needs them, and every user of a forge — webhook routes, jobs, pages — asks for it per use
 * (docs/adr/0011-forge-credentials-from-setup.md).
 */
export async function createForges(config: Config, options: ForgeOptions): Promise<Forges> {
  const { log } = options;
  const entryOptions = { config, log, writes: options.writes, ...(options.githubOctokit ? { githubOctokit: options.githubOctokit } : {}) };
  const fixed = new Map<ForgeName, ForgeEntry>();
  if (config.github) fixed.set("github", await githubFromEnv(entryOptions, config.github));
  if (config.gitlab) fixed.set("gitlab", await gitlabFromEnv(entryOptions, config.gitlab));
  const store = options.credentials ?? null;
  if (store) {
    const versions = await store.versions();
    for (const name of fixed.keys()) {
      if (versions.has(name)) log.warn({ forge: name }, "stored credentials of this forge are ignored: the environment configures it");
    }
  }
  const slots = createForgeSlots<ForgeEntry>({
    fixed,
    store,
    log,
    build: (stored) => (stored.forge === "github" ? githubFromStore(entryOptions, stored) : gitlabFromStore(entryOptions, stored)),
  });
  await slots.refresh();

  /** A forge this process may not have yet: each use asks for it, and fails (to be retried) while it is not there. */
  const later = Object.fromEntries(
    FORGE_NAMES.map((name): [ForgeName, Forge] => [
      name,
      {
        name,
        profile: profileFor(name),
        async clientFor(thread) {
          const entry = await slots.current(name);
          if (!entry) throw new ForgeNotConfiguredError(NOT_CONFIGURED[name]);
          return entry.forge.clientFor(thread);
        },
      },
    ]),
  ) as Record<ForgeName, Forge>;

  const signIns: Partial<Record<ForgeName, SignInProvider>> = {};
  for (const name of FORGE_NAMES) {
    Object.defineProperty(signIns, name, { enumerable: true, get: () => slots.find(name)?.signIn ?? undefined });
  }

  const handleFor = (name: ForgeName) => slots.find(name)?.handle ?? config.botHandle ?? "forgebot";

  return {
    provider: {
      forgeFor(name) {
        const entry = slots.find(name);
        if (entry?.origin === "env") return entry.forge;
        if (!store && !entry) throw new ForgeNotConfiguredError(NOT_CONFIGURED[name]);
        return later[name];
      },
      handleFor,
      requestIn: (name, body) => parseMention(body, handleFor(name)),
      profileFor,
    },
    webhooks(accept, maxBodyBytes) {
      const handler =
        (name: ForgeName): WebhookHandler =>
        async (req, res) => {
          const entry = await slots.current(name);
          if (!entry) {
            req.resume();
            return sendJson(res, 503, { error: NOT_CONFIGURED[name] });
          }
          return createWebhookHandler(entry.source, { accept, maxBodyBytes, log })(req, res);
        };
      return { github: handler("github"), gitlab: handler("gitlab") };
    },
    signIns,
    directory: {
      async status({ fresh = false } = {}) {
        if (fresh) await slots.refresh();
        return slots.all().map((entry) => entry.status);
      },
      async install(credentials, storedBy) {
        if (!store) throw new Error("forge credentials cannot be stored here");
        if (fixed.has(credentials.forge)) throw new Error(`${credentials.forge} is configured by the environment`);
        await store.save(credentials, storedBy);
        await slots.refresh();
        const entry = slots.find(credentials.forge);
        if (!entry) throw new Error(`the ${credentials.forge} credentials just stored could not be used`);
        return entry.status;
      },
    },
  };
}

/** Registering the bot on each forge from the setup page: GitHub's manifest flow, GitLab's token check. */
export function createForgeSetup(config: Config): ForgeSetup {
  return {
    github: createGitHubAppSetup(config.forgeTargets.github, config.publicUrl),
    gitlab: createGitLabSetup(config.forgeTargets.gitlab),
  };
}
