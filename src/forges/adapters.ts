import type { ProbotOctokit } from "probot";
import type { Config } from "../config/index.js";
import type { Logger } from "../logging/logger.js";
import type { AcceptOutcome } from "../lifecycle/accept.js";
import type { ForgeName, NormalizeResult } from "../sessions/forge-port.js";
import { createGitHubApp, type GitHubApp } from "./github/app.js";
import { createGitLabApp, type GitLabApp } from "./gitlab/app.js";

export type { GitHubApp, GitLabApp };

export type ForgeAdapters = {
  github: GitHubApp | null;
  gitlab: GitLabApp | null;
  /** The handle users mention on that forge: BOT_HANDLE, else the app's slug / token user. */
  handleFor(forge: ForgeName): string;
};

const SELF_LOOKUP_TIMEOUT_MS = 5000;

async function bounded<T>(lookup: Promise<T | null>, log: Logger, forge: ForgeName): Promise<T | null> {
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), SELF_LOOKUP_TIMEOUT_MS).unref());
  const result = await Promise.race([lookup, timeout]);
  if (result === null) log.warn({ forge }, "could not identify the bot user at start; using the configured handle");
  return result;
}

/**
 * Builds the configured forge adapters (the only place that constructs them) and finds who the
 * bot is on each: its handle, and the logins never to answer. Start-up never waits on an
 * unreachable forge for more than a few seconds.
 */
export async function createForgeAdapters(
  config: Config,
  options: { log: Logger; accept(result: NormalizeResult): Promise<AcceptOutcome>; githubOctokit?: typeof ProbotOctokit },
): Promise<ForgeAdapters> {
  const { log, accept } = options;
  const handles = new Map<ForgeName, string>();
  const handleFor = (forge: ForgeName) => handles.get(forge) ?? config.botHandle ?? "forgebot";

  let github: GitHubApp | null = null;
  if (config.github) {
    github = createGitHubApp({
      config: config.github,
      log,
      maxBodyBytes: config.maxWebhookBytes,
      accept,
      ...(options.githubOctokit ? { Octokit: options.githubOctokit } : {}),
    });
    const slug = config.botHandle ? null : await bounded(github.fetchSlug(), log, "github");
    handles.set("github", config.botHandle ?? slug ?? "forgebot");
    github.setSelfLogins([handleFor("github"), `${handleFor("github")}[bot]`]);
  }

  let gitlab: GitLabApp | null = null;
  if (config.gitlab) {
    gitlab = createGitLabApp({ config: config.gitlab, log, maxBodyBytes: config.maxWebhookBytes, accept });
    // The token's user is "self" (never answered); its username is the handle unless BOT_HANDLE is set.
    const self = await bounded(gitlab.fetchSelf(), log, "gitlab");
    handles.set("gitlab", config.botHandle ?? self?.username ?? "forgebot");
    gitlab.setSelfLogins([handleFor("gitlab")]);
  }
  return { github, gitlab, handleFor };
}
