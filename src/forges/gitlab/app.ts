import type { Logger } from "pino";
import type { GitLabConfig } from "../../config/index.js";
import type { Forge, ThreadRef } from "../../sessions/forge-port.js";
import { constantTimeEqual } from "../../sessions/text.js";
import { header } from "../../web/http.js";
import type { WebhookSource } from "../webhook.js";
import { call, createGitLabApi, type GitLabApi } from "./api.js";
import { createGitLabArchive } from "./archive.js";
import { createGitLabClient } from "./client.js";
import { HANDLED_EVENTS, normalizeGitLabEvent } from "./normalize.js";
import { gitlabProfile } from "./profile.js";
import { createGitLabRequesterFn, type TransportOptions } from "./requester.js";

export type GitLabAppOptions = {
  config: GitLabConfig;
  log: Logger;
  /** Tests turn retry delays down. */
  transport?: TransportOptions;
};

export type GitLabUser = { id: string; username: string };

/**
 * Who the bot is on GitLab, learned before any webhook is handled: the token's user (null when
 * GitLab could not be asked at start) and the usernames never answered (the handle included).
 */
export type GitLabIdentity = { self: GitLabUser | null; selfUsernames: readonly string[] };

export type GitLabApp = {
  forge: Forge;
  /** The token's user (`GET /user`). Null, logged, when GitLab can't be asked in time. */
  fetchSelf(timeoutMs?: number): Promise<GitLabUser | null>;
  /** The GitLab part of the webhook pipeline (forges/webhook.ts). */
  webhookSource(identity: GitLabIdentity): WebhookSource;
  /** One write budget per GitLab host: the bot is one user there. */
  writeScope(thread: ThreadRef): string;
};

/**
 * The GitLab adapter: the webhook's GitLab part and the ForgeClient factory, over gitbeaker with
 * one shared transport (read retries, request metrics).
 */
export function createGitLabApp(options: GitLabAppOptions): GitLabApp {
  const { config, log } = options;
  if (!config.webhookSecret) throw new Error("the GitLab webhook route needs GITLAB_WEBHOOK_SECRET");
  const requesterFn = createGitLabRequesterFn({ ...options.transport });
  // Calls run in jobs: each attempt is bounded by the transport, a 429's wait is not cut short.
  const api: GitLabApi = createGitLabApi({ url: config.url, token: config.token, requesterFn, queryTimeoutMs: null });

  async function readSelf(via: GitLabApi): Promise<GitLabUser> {
    const user = await call<{ id: number; username: string }>("read the token's user", () => via.users.showCurrentUser());
    return { id: String(user.id), username: user.username };
  }
  /** The token's user, asked once and remembered; a failed ask is asked again next time. */
  let selfLookup: Promise<GitLabUser> | null = null;
  function self(): Promise<GitLabUser> {
    selfLookup ??= readSelf(api).catch((err: unknown) => {
      selfLookup = null;
      throw err;
    });
    return selfLookup;
  }

  const forge: Forge = {
    name: "gitlab",
    profile: gitlabProfile,
    async clientFor(thread) {
      if (thread.host !== config.host) throw new Error(`GitLab thread is on ${thread.host}, but GITLAB_URL points to ${config.host}`);
      const me = await self();
      const client = createGitLabClient(api, thread, { minAccessLevel: config.minAccessLevel, selfUserId: me.id });
      return { ...client, archive: createGitLabArchive(api, thread.repoId, { url: config.url, token: config.token }) };
    },
  };

  /**
   * The token first (a plain shared secret, compared in constant time), then the event: events
   * we ignore get a 2xx too, since GitLab disables hooks that keep failing. No API call here.
   */
  function webhookSource(identity: GitLabIdentity): WebhookSource {
    const selfUsernames = [...identity.selfUsernames, ...(identity.self ? [identity.self.username] : [])];
    const idempotencyKey = (req: Parameters<WebhookSource["eventLabel"]>[0]) => header(req, "idempotency-key")?.trim() || undefined;
    return {
      forge: "gitlab",
      eventLabel(req) {
        const hook = header(req, "x-gitlab-event");
        return hook === "Note Hook" ? "note" : hook === "Confidential Note Hook" ? "confidential_note" : "other";
      },
      checkHeaders(req) {
        const token = header(req, "x-gitlab-token");
        if (token === undefined) return { status: 401, outcome: "unauthorized", error: "missing X-Gitlab-Token header" };
        if (!constantTimeEqual(token, config.webhookSecret)) return { status: 401, outcome: "unauthorized", error: "X-Gitlab-Token does not match" };
        const hook = header(req, "x-gitlab-event");
        if (hook === undefined || !(HANDLED_EVENTS as readonly string[]).includes(hook)) return { ignore: "unhandled_event" };
        return null;
      },
      verifyBody: async () => true,
      normalize: (req, payload) =>
        normalizeGitLabEvent(header(req, "x-gitlab-event") ?? "", payload, {
          host: config.host,
          idempotencyKey: idempotencyKey(req),
          selfUserId: identity.self?.id ?? null,
          selfUsernames,
        }),
      deliveryId: (req, result) => (result.kind === "mention" ? result.event.deliveryKey : idempotencyKey(req)),
    };
  }

  return {
    forge,
    webhookSource,
    writeScope: (thread) => `gitlab-${thread.host}`,
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
      if ("user" in result) {
        selfLookup ??= Promise.resolve(result.user);
        return result.user;
      }
      log.warn({ err: result.err, forge: "gitlab", url: config.url }, "could not read the GitLab token's user; using the configured handle");
      return null;
    },
  };
}
