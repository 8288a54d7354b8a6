import { Probot, ProbotOctokit } from "probot";
import type { Logger } from "pino";
import type { GitHubConfig } from "../../config/index.js";
import { countForgeRequest, forgeRequestErrorOutcome } from "../../metrics/index.js";
import type { Forge, ThreadRef } from "../../sessions/forge-port.js";
import { header } from "../../web/http.js";
import type { WebhookSource } from "../webhook.js";
import { call } from "./api.js";
import { createGitHubClient } from "./client.js";
import { HANDLED_EVENTS, normalizeGitHubEvent } from "./normalize.js";
import { githubProfile } from "./profile.js";

export type GitHubAppOptions = {
  config: GitHubConfig;
  log: Logger;
  /** Tests pass an Octokit with retry and throttling off. */
  Octokit?: typeof ProbotOctokit;
};

/** Who the bot is on GitHub, learned before any webhook is handled: logins never answered. */
export type GitHubIdentity = { selfLogins: readonly string[] };

export type GitHubApp = {
  forge: Forge;
  /** The app's slug, the default handle. Null when GitHub can't be asked. */
  fetchSlug(): Promise<string | null>;
  /** The GitHub part of the webhook pipeline (forges/webhook.ts). */
  webhookSource(identity: GitHubIdentity): WebhookSource;
  /** One write budget per installation: GitHub's limits are per installation. */
  writeScope(thread: ThreadRef): string;
};

/** Counts each REST call of this client in `forgebot_forge_requests_total{forge="github"}`. */
function countRequests(octokit: ProbotOctokit): ProbotOctokit {
  octokit.hook.wrap("request", async (request, requestOptions) => {
    try {
      const response = await request(requestOptions);
      countForgeRequest("github", "ok");
      return response;
    } catch (err: unknown) {
      countForgeRequest("github", forgeRequestErrorOutcome(err));
      throw err;
    }
  });
  return octokit;
}

/**
 * Every request gets its own `request` options. The retry plugin counts a request's retries in
 * `options.request.retryCount`, and that object is otherwise the client's defaults, shared: after
 * one failed request (even a 404 it never retries) every later first retry waited 4 s, not 1 s.
 */
function ownRequestOptions(octokit: { hook: { before(name: "request", fn: (options: { request?: object }) => void): void } }): void {
  octokit.hook.before("request", (options) => {
    options.request = { ...options.request };
  });
}

/**
 * Probot's Octokit without its per-installation throttle (a blanket 1 s / 3 s gap per write;
 * forgebot's write budget replaces it) and without retrying 429s (the budget honours
 * Retry-After and slows the whole installation). 5xx and network errors are still retried.
 */
export function forgebotOctokit(requestTimeoutMs: number): typeof ProbotOctokit {
  // Without a limit a request GitHub never answers holds its job (and its lock renewals) forever.
  const timedFetch = (url: string | URL | Request, init?: RequestInit) =>
    fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(requestTimeoutMs)]) : AbortSignal.timeout(requestTimeoutMs) });
  return ProbotOctokit.plugin(ownRequestOptions).defaults((octokitOptions: Record<string, unknown>) => ({
    ...octokitOptions,
    request: { ...(octokitOptions.request as Record<string, unknown> | undefined), fetch: timedFetch },
    throttle: { enabled: false },
    retry: { ...(octokitOptions.retry as Record<string, unknown> | undefined), doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] },
  })) as unknown as typeof ProbotOctokit;
}

export function createGitHubApp(options: GitHubAppOptions): GitHubApp {
  const { config, log } = options;
  // Probot is built from explicit options, never from the environment: it would otherwise pick up
  // REDIS_URL for its own throttling and fetch a pinned ioredis at run time (see docs/adr/0002).
  const probot = new Probot({
    appId: config.appId,
    privateKey: config.privateKey,
    secret: config.webhookSecret,
    baseUrl: config.baseUrl,
    log: log.child({ forge: "github" }),
    Octokit: options.Octokit ?? forgebotOctokit(config.requestTimeoutMs),
  });

  const forge: Forge = {
    name: "github",
    profile: githubProfile,
    async clientFor(thread) {
      const installationId = thread.installationId ?? (await installationFor(thread.repoPath));
      const octokit = countRequests(await probot.auth(installationId));
      return createGitHubClient(octokit, thread, config.allowedRoles);
    },
  };

  /**
   * GitHub puts the installation in every App webhook; a payload without one (replayed by hand,
   * or from a repository webhook) is answered through the app's installation on that repository.
   */
  const installations = new Map<string, number>();
  async function installationFor(repoPath: string): Promise<number> {
    const known = installations.get(repoPath);
    if (known) return known;
    const [owner = "", ...rest] = repoPath.split("/");
    const app = countRequests(await probot.auth());
    const { data } = await call("installation lookup", () => app.rest.apps.getRepoInstallation({ owner, repo: rest.join("/") }));
    installations.set(repoPath, data.id);
    return data.id;
  }

  /**
   * Headers, then the signature over the raw bytes before any JSON parsing (octokit/webhooks'
   * verify); no GitHub API call happens here.
   */
  function webhookSource(identity: GitHubIdentity): WebhookSource {
    const isHandled = (name: string | undefined) => name !== undefined && (HANDLED_EVENTS as readonly string[]).includes(name);
    return {
      forge: "github",
      eventLabel: (req) => {
        const name = header(req, "x-github-event");
        return isHandled(name) ? (name as string) : "other";
      },
      checkHeaders(req) {
        if (!header(req, "x-github-event") || !header(req, "x-github-delivery")) {
          return { status: 400, outcome: "bad_request", error: "missing X-GitHub-Event or X-GitHub-Delivery header" };
        }
        if (!header(req, "x-hub-signature-256")) return { status: 401, outcome: "unauthorized", error: "missing X-Hub-Signature-256 header" };
        return null;
      },
      verifyBody: (req, raw) => probot.webhooks.verify(raw, header(req, "x-hub-signature-256") ?? "").catch(() => false),
      normalize: (req, payload) =>
        normalizeGitHubEvent(header(req, "x-github-event") ?? "", payload, {
          host: config.host,
          deliveryKey: header(req, "x-github-delivery") ?? "",
          selfLogins: identity.selfLogins,
        }),
      deliveryId: (req) => header(req, "x-github-delivery"),
    };
  }

  return {
    forge,
    webhookSource,
    writeScope: (thread) => `github-${thread.host}-${thread.installationId ?? 0}`,
    async fetchSlug() {
      try {
        const octokit = await probot.auth();
        const { data } = await octokit.rest.apps.getAuthenticated();
        return data?.slug ?? null;
      } catch (err: unknown) {
        log.warn({ err, forge: "github" }, "could not read the GitHub App's slug; using the default handle");
        return null;
      }
    },
  };
}
