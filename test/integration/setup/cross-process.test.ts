import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createLogger } from "../../../src/logging/logger.js";
import { ForgeNotConfiguredError } from "../../../src/sessions/errors.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { registerGitHubApp } from "../../helpers/setup-flow.js";
import { issueThread } from "../web/support.js";

/**
 * Web and workers in separate processes (each its own forge registry, as `forgebot web` and
 * `forgebot worker`): a worker started before the setup page registered the GitHub App picks the
 * credentials up from Postgres when its first job needs them, with the app's handle; a process
 * holding another SESSION_LINK_SECRET cannot open them, says so in its log, and uses none.
 */

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

const APP_NAME = "forgebot-split";
let database: TestDatabase;
let fake: FakeGitHub;
let web: TestBot;
let worker: TestBot;
let stranger: TestBot;
const strangerLog: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  const env = { APP_ID: "", PRIVATE_KEY: "", WEBHOOK_SECRET: "", BOT_HANDLE: "", GHE_HOST: fake.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix() };
  worker = await startTestBot({ databaseUrl: database.url, flows: [echoFlow], roles: { web: false, workers: true }, env });
  web = await startTestBot({ databaseUrl: database.url, flows: [echoFlow], roles: { web: true, workers: false }, env });
  stranger = await startTestBot({
    databaseUrl: database.url,
    roles: { web: false, workers: false },
    env: { ...env, QUEUE_PREFIX: uniquePrefix(), SESSION_LINK_SECRET: "another-link-secret" },
    log: createLogger("info", { write: (line: string) => void strangerLog.push(line) }),
  });
});

afterAll(async () => {
  await Promise.all([web?.stop(), worker?.stop(), stranger?.stop()]);
  await fake?.stop();
  await database?.drop();
});

let comments = 7_300_000;

async function mention(login: string, body: string, secret: string): Promise<Response> {
  const id = ++comments;
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = id;
    p.comment.body = body;
    p.comment.user.login = login;
    p.issue.number = 23;
  });
  const raw = JSON.stringify(payload);
  return fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `split-${id}`, raw, secret), body: raw });
}

describe("credentials from the setup page in other processes", () => {
  it("a worker that started without GitHub answers the first mention after the web process registered the app, as the app's handle", async () => {
    const flow = await registerGitHubApp(web.baseUrl, { fields: { name: APP_NAME } });
    expect(flow.res.status).toBe(200);
    const app = fake.createdApps[0]!;

    // Someone who may not write: the worker's refusal names the handle it learned with the credentials.
    fake.permissions.set("reader", "read");
    expect((await mention("reader", `@${APP_NAME} please`, app.webhookSecret)).status).toBe(202);
    const refusal = await waitFor("the permission note", () => fake.live().find((c) => c.body.includes("forgebot:notice")));
    expect(refusal.body).toContain(`can use @${APP_NAME} here`);

    expect((await mention("Codertocat", `@${APP_NAME} from the web process`, app.webhookSecret)).status).toBe(202);
    await waitFor("the worker's reply", () => fake.live().find((c) => c.body.includes("Echo: from the web process")));
  });

  it("a process with another SESSION_LINK_SECRET cannot open them: it logs why once and has no GitHub", async () => {
    const forge = stranger.bot.deps.forges.forgeFor("github");
    await expect(forge.clientFor(issueThread(1))).rejects.toBeInstanceOf(ForgeNotConfiguredError);
    await new Promise((r) => setTimeout(r, 1100));
    await expect(forge.clientFor(issueThread(1))).rejects.toBeInstanceOf(ForgeNotConfiguredError);
    const errors = strangerLog.filter((l) => l.includes("stored forge credentials cannot be used"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("another SESSION_LINK_SECRET");
  });
});
