import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createServer, type Server } from "node:http";
import nock from "nock";
import type { GitLabConfig } from "../../../../src/config/index.js";
import type { NormalizeResult } from "../../../../src/sessions/forge-port.js";
import { createGitLabApp, type GitLabApp, type GitLabIdentity } from "../../../../src/forges/gitlab/app.js";
import { createLogger } from "../../../../src/logging/logger.js";
import type { AcceptOutcome } from "../../../../src/sessions/forge-port.js";
import { createWebhookHandler, type WebhookHandler } from "../../../../src/forges/webhook.js";
import { gitlabPayload } from "../../../fixtures/gitlab/payloads.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../../helpers/fake-gitlab.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../../helpers/nock-gitlab.js";

const SECRET = "a-webhook-secret";
const config: GitLabConfig = { url: FAKE_GITLAB_URL, host: "gitlab.example.com", token: FAKE_GITLAB_TOKEN, webhookSecret: SECRET, minAccessLevel: 30 };

let accepted: NormalizeResult[];
let logLines: string[];
let app: GitLabApp;
let handle: WebhookHandler;
let server: Server;
let baseUrl: string;

function build(overrides: Partial<GitLabConfig> = {}): GitLabApp {
  const log = createLogger("warn", { write: (line: string) => void logLines.push(line) });
  return createGitLabApp({ config: { ...config, ...overrides }, log });
}

/** The webhook pipeline over the GitLab app's part, knowing the bot as `identity`. */
function webhook(identity: GitLabIdentity = { self: null, selfUsernames: ["forgebot"] }): WebhookHandler {
  return createWebhookHandler(app.webhookSource(identity), {
    maxBodyBytes: 64 * 1024,
    log: createLogger("silent"),
    accept: async (result): Promise<AcceptOutcome> => {
      accepted.push(result);
      return result.kind === "mention" ? "accepted" : result.reason;
    },
  });
}

async function post(body: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${baseUrl}/api/gitlab/webhooks`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: res.status, json: await res.json() };
}

const mentionBody = JSON.stringify(gitlabPayload("note-merge-request.docs-example", (p) => (p.object_attributes.note = "@forgebot hi")));
const noteHeaders = { "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": "idem-42" };

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  accepted = [];
  logLines = [];
  app = build();
  handle = webhook();
});

afterEach(() => nock.cleanAll());

describe("POST /api/gitlab/webhooks", () => {
  it("refuses to start without a secret", () => {
    expect(() => build({ webhookSecret: "" })).toThrow("GITLAB_WEBHOOK_SECRET");
  });

  const refused: [string, Record<string, string>][] = [
    ["no token", { "x-gitlab-event": "Note Hook" }],
    ["a wrong token of the same length", { "x-gitlab-event": "Note Hook", "x-gitlab-token": "b-webhook-secret" }],
    ["a wrong token of another length", { "x-gitlab-event": "Note Hook", "x-gitlab-token": "short" }],
    ["the secret with a suffix", { "x-gitlab-event": "Note Hook", "x-gitlab-token": `${SECRET}x` }],
    ["no token on an event we ignore", { "x-gitlab-event": "Push Hook" }],
  ];
  it.each(refused)("%s → 401, nothing accepted", async (_name, headers) => {
    const res = await post(mentionBody, headers);
    expect(res.status).toBe(401);
    expect(accepted).toHaveLength(0);
  });

  it("a note with the right token is normalized with the Idempotency-Key and answered 202", async () => {
    const res = await post(mentionBody, noteHeaders);
    expect(res).toEqual({ status: 202, json: { outcome: "accepted" } });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ kind: "mention", event: { deliveryKey: "idem-42", triggerKey: "note-gitlab.example.com-1244", thread: { number: 1 } } });
  });

  it("without an Idempotency-Key the delivery key is the project and note id", async () => {
    const { "idempotency-key": _dropped, ...headers } = noteHeaders;
    await post(mentionBody, headers);
    expect(accepted[0]).toMatchObject({ event: { deliveryKey: "note-5-1244" } });
  });

  const ignoredQuickly: [string, string][] = [
    ["Push Hook", "{}"],
    ["Merge Request Hook", "not even json"],
    ["Pipeline Hook", "{}"],
  ];
  it.each(ignoredQuickly)("a %s is answered 200 without reading it", async (event, body) => {
    const res = await post(body, { "x-gitlab-event": event, "x-gitlab-token": SECRET });
    expect(res).toEqual({ status: 200, json: { outcome: "unhandled_event" } });
    expect(accepted).toHaveLength(0);
  });

  it("ignored notes are still 2xx (GitLab disables failing hooks)", async () => {
    const system = JSON.stringify(gitlabPayload("note-merge-request.docs-example", (p) => (p.object_attributes.system = true)));
    const res = await post(system, noteHeaders);
    expect(res).toEqual({ status: 200, json: { outcome: "system_note" } });
  });

  it("malformed JSON → 400, a body over the limit → 413, another content type → 415", async () => {
    expect((await post("{", noteHeaders)).status).toBe(400);
    expect((await post(JSON.stringify({ pad: "x".repeat(70 * 1024) }), noteHeaders)).status).toBe(413);
    const res = await fetch(`${baseUrl}/api/gitlab/webhooks`, { method: "POST", headers: { ...noteHeaders, "content-type": "text/plain" }, body: mentionBody });
    expect(res.status).toBe(415);
    expect(accepted).toHaveLength(0);
  });
});

describe("the token's user", () => {
  it("is read from GET /user and its notes are then skipped by id", async () => {
    const fake = new FakeGitLab();
    nockGitLab(fake);
    const self = await app.fetchSelf();
    expect(self).toEqual({ id: String(fake.bot.id), username: "forgebot" });
    handle = webhook({ self, selfUsernames: ["forgebot"] });
    const ownNote = JSON.stringify(gitlabPayload("note-merge-request.docs-example", (p) => {
      p.object_attributes.note = "@forgebot hi";
      p.user = { ...p.user, id: fake.bot.id, username: "renamed-bot" };
    }));
    expect((await post(ownNote, noteHeaders)).json).toEqual({ outcome: "self" });
  });

  it("an unreachable GitLab gives null and a warning, not a hang", async () => {
    nock.disableNetConnect();
    nock.enableNetConnect((host) => host.startsWith("127.0.0.1"));
    nock(FAKE_GITLAB_URL).get("/api/v4/user").replyWithError({ code: "ECONNREFUSED", message: "connect ECONNREFUSED" });
    expect(await app.fetchSelf(1000)).toBeNull();
    expect(logLines.join("")).toContain("could not read the GitLab token's user");
  });

  it("a GitLab that never answers gives null once the timeout passes", async () => {
    // A listener that accepts connections and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    try {
      const started = Date.now();
      expect(await build({ url, host: "127.0.0.1" }).fetchSelf(200)).toBeNull();
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(logLines.join("")).toContain("timed out");
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
