import type { IncomingMessage, ServerResponse } from "node:http";
import { Probot, ProbotOctokit } from "probot";
import type { Logger } from "pino";
import type { GitHubConfig } from "../../config/index.js";
import { countForgeRequest, forgeRequestErrorOutcome, webhooksReceived } from "../../metrics/index.js";
import type { AcceptOutcome } from "../../lifecycle/accept.js";
import type { Forge, NormalizeResult } from "../../sessions/forge-port.js";
import { header, isJsonContentType, parseJson, readWebhookBody, sendJson, acceptAndAnswer } from "../../web/http.js";
import { call } from "./api.js";
import { createGitHubClient } from "./client.js";
import { githubMarkdown } from "./profile.js";
import { HANDLED_EVENTS, normalizeGitHubEvent } from "./normalize.js";

export type GitHubAppOptions = {
  config: GitHubConfig;
  log: Logger;
  maxBodyBytes: number;
  accept(result: NormalizeResult): Promise<AcceptOutcome>;
  /** Tests pass an Octokit with retry and throttling off. */
  Octokit?: typeof ProbotOctokit;
};

export type GitHubApp = {
  forge: Forge;
  probot: Probot;
  handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The app's slug, the default handle. Null when GitHub can't be asked. */
  fetchSlug(): Promise<string | null>;
  setSelfLogins(logins: readonly string[]): void;
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
 * Probot's Octokit without its per-installation throttle (a blanket 1 s / 3 s gap per write;
 * forgebot's write budget replaces it) and without retrying 429s (the budget honours
 * Retry-After and slows the whole installation). 5xx and network errors are still retried.
 */
function forgebotOctokit(requestTimeoutMs: number): typeof ProbotOctokit {
  // Without a limit a request GitHub never answers holds its job (and its lock renewals) forever.
  const timedFetch = (url: string | URL | Request, init?: RequestInit) =>
    fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(requestTimeoutMs)]) : AbortSignal.timeout(requestTimeoutMs) });
  return ProbotOctokit.defaults((octokitOptions: Record<string, unknown>) => ({
    ...octokitOptions,
    request: { ...(octokitOptions.request as Record<string, unknown> | undefined), fetch: timedFetch },
    throttle: { enabled: false },
    retry: { doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] },
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
  let selfLogins: readonly string[] = [];

  const forge: Forge = {
    name: "github",
    markdown: githubMarkdown,
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

  function count(event: string, outcome: string): void {
    webhooksReceived.inc({ forge: "github", event, outcome });
  }

  /**
   * verify → parse → normalize → record → enqueue, then 2xx. The signature is checked on the
   * raw bytes before any JSON parsing; no GitHub API call happens here.
   */
  async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = header(req, "x-github-event");
    const id = header(req, "x-github-delivery");
    const signature = header(req, "x-hub-signature-256");
    const event = name && (HANDLED_EVENTS as readonly string[]).includes(name) ? name : "other";
    if (!name || !id) {
      count(event, "bad_request");
      return sendJson(res, 400, { error: "missing X-GitHub-Event or X-GitHub-Delivery header" });
    }
    if (!signature) {
      count(event, "unauthorized");
      return sendJson(res, 401, { error: "missing X-Hub-Signature-256 header" });
    }
    const raw = await readWebhookBody(req, res, options.maxBodyBytes, () => count(event, "too_large"));
    if (raw === null) return;
    if (!(await probot.webhooks.verify(raw, signature).catch(() => false))) {
      count(event, "unauthorized");
      return sendJson(res, 401, { error: "signature does not match" });
    }
    if (!isJsonContentType(req)) {
      count(event, "unsupported_media_type");
      return sendJson(res, 415, { error: "expects Content-Type: application/json" });
    }
    const parsed = parseJson(raw);
    if (!parsed.ok) {
      count(event, "malformed");
      return sendJson(res, 400, { error: "body is not valid JSON" });
    }
    const result = normalizeGitHubEvent(name, parsed.value, { host: config.host, deliveryKey: id, selfLogins });
    const outcome = await acceptAndAnswer(res, () => options.accept(result), (o) => count(event, o));
    log.debug({ deliveryId: id, forge: "github", event: name, outcome }, "webhook handled");
  }

  return {
    forge,
    probot,
    handleWebhook,
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
    setSelfLogins(logins) {
      selfLogins = logins;
    },
  };
}
