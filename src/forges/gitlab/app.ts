import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { GitLabConfig } from "../../config/index.js";
import { webhooksReceived } from "../../metrics/index.js";
import type { AcceptOutcome } from "../../lifecycle/accept.js";
import type { Forge, NormalizeResult } from "../../sessions/forge-port.js";
import { constantTimeEqual } from "../../sessions/text.js";
import { header, isJsonContentType, parseJson, readWebhookBody, sendJson, acceptAndAnswer } from "../../web/http.js";
import { call, createGitLabApi, type GitLabApi } from "./api.js";
import { createGitLabClient } from "./client.js";
import { gitlabMarkdown } from "./profile.js";
import { HANDLED_EVENTS, normalizeGitLabEvent } from "./normalize.js";
import { createGitLabRequesterFn, type TransportOptions } from "./requester.js";

export type GitLabAppOptions = {
  config: GitLabConfig;
  log: Logger;
  maxBodyBytes: number;
  accept(result: NormalizeResult): Promise<AcceptOutcome>;
  /** Tests turn retry delays and the limiter window down. */
  transport?: Omit<TransportOptions, "notesPerMinute">;
};

export type GitLabUser = { id: string; username: string };

export type GitLabApp = {
  forge: Forge;
  handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The token's user (`GET /user`), remembered as "self". Null, logged, when GitLab can't be asked in time. */
  fetchSelf(timeoutMs?: number): Promise<GitLabUser | null>;
  /** Usernames that are us besides the token's user (the handle). */
  setSelfLogins(usernames: readonly string[]): void;
};

/**
 * The GitLab adapter: the `POST /api/gitlab/webhooks` route and the ForgeClient factory, over
 * gitbeaker with one shared transport (note limiter, 429 retries, request metrics).
 */
export function createGitLabApp(options: GitLabAppOptions): GitLabApp {
  const { config, log } = options;
  if (!config.webhookSecret) throw new Error("the GitLab webhook route needs GITLAB_WEBHOOK_SECRET");
  const requesterFn = createGitLabRequesterFn({ notesPerMinute: config.notesPerMinute, ...options.transport });
  // Calls run in jobs: each attempt is bounded by the transport, a 429's wait is not cut short.
  const api: GitLabApi = createGitLabApi({ url: config.url, token: config.token, requesterFn, queryTimeoutMs: null });
  let self: GitLabUser | null = null;
  let selfLogins: readonly string[] = [];

  async function readSelf(via: GitLabApi = api): Promise<GitLabUser> {
    const user = await call<{ id: number; username: string }>("read the token's user", () => via.users.showCurrentUser());
    self = { id: String(user.id), username: user.username };
    return self;
  }

  const forge: Forge = {
    name: "gitlab",
    markdown: gitlabMarkdown,
    async clientFor(thread) {
      if (thread.host !== config.host) throw new Error(`GitLab thread is on ${thread.host}, but GITLAB_URL points to ${config.host}`);
      // Learned at start; asked again here when GitLab was unreachable then.
      const me = self ?? (await readSelf());
      return createGitLabClient(api, thread, { minAccessLevel: config.minAccessLevel, selfUserId: me.id });
    },
  };

  function count(event: string, outcome: string): void {
    webhooksReceived.inc({ forge: "gitlab", event, outcome });
  }

  /**
   * token → event → parse → normalize → record → enqueue, then 2xx. Events we ignore get a 2xx
   * too: GitLab disables hooks that keep failing. No GitLab API call happens here.
   */
  async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hook = header(req, "x-gitlab-event");
    const token = header(req, "x-gitlab-token");
    const handled = hook !== undefined && (HANDLED_EVENTS as readonly string[]).includes(hook);
    const event = hook === "Note Hook" ? "note" : hook === "Confidential Note Hook" ? "confidential_note" : "other";
    if (token === undefined) {
      req.resume();
      count(event, "unauthorized");
      return sendJson(res, 401, { error: "missing X-Gitlab-Token header" });
    }
    if (!constantTimeEqual(token, config.webhookSecret)) {
      req.resume();
      count(event, "unauthorized");
      return sendJson(res, 401, { error: "X-Gitlab-Token does not match" });
    }
    if (!handled) {
      req.resume();
      count(event, "unhandled_event");
      return sendJson(res, 200, { outcome: "unhandled_event" });
    }
    const raw = await readWebhookBody(req, res, options.maxBodyBytes, () => count(event, "too_large"));
    if (raw === null) return;
    if (!isJsonContentType(req)) {
      count(event, "unsupported_media_type");
      return sendJson(res, 415, { error: "expects Content-Type: application/json" });
    }
    const parsed = parseJson(raw);
    if (!parsed.ok) {
      count(event, "malformed");
      return sendJson(res, 400, { error: "body is not valid JSON" });
    }
    const idempotencyKey = header(req, "idempotency-key")?.trim() || undefined;
    const result = normalizeGitLabEvent(hook, parsed.value, {
      host: config.host,
      idempotencyKey,
      selfUserId: self?.id ?? null,
      selfUsernames: [...selfLogins, ...(self ? [self.username] : [])],
    });
    const outcome = await acceptAndAnswer(res, () => options.accept(result), (o) => count(event, o));
    const deliveryId = result.kind === "mention" ? result.event.deliveryKey : idempotencyKey;
    log.debug({ deliveryId, forge: "gitlab", event: hook, outcome }, "webhook handled");
  }

  return {
    forge,
    handleWebhook,
    async fetchSelf(timeoutMs = 5000) {
      // Its own short per-request timeout, and a race for the retries: start-up must not hang.
      const quick = createGitLabApi({ url: config.url, token: config.token, requesterFn, queryTimeoutMs: timeoutMs });
      const attempt = readSelf(quick).then(
        (user) => ({ user }),
        (err: unknown) => ({ err }),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<{ err: Error }>((resolve) => {
        timer = setTimeout(() => resolve({ err: new Error(`no answer from GitLab within ${timeoutMs} ms`) }), timeoutMs);
      });
      const result = await Promise.race([attempt, timeout]);
      clearTimeout(timer);
      if ("user" in result) return result.user;
      log.warn({ err: result.err, forge: "gitlab", url: config.url }, "could not read the GitLab token's user; using the configured handle");
      return null;
    },
    setSelfLogins(usernames) {
      selfLogins = usernames;
    },
  };
}
