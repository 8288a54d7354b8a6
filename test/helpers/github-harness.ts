import { afterAll, beforeAll, beforeEach } from "@jest/globals";
import nock from "nock";
import { startTestBot, type TestBot, type TestBotOptions } from "./bot.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { FakeGitHub } from "./fake-github.js";
import { signedHeaders } from "./github-app.js";
import { nockGitHub } from "./nock-github.js";

export type GitHubHarness = {
  readonly database: TestDatabase;
  readonly bot: TestBot;
  /** A fresh in-memory GitHub behind nock for every test. */
  readonly fake: FakeGitHub;
  /** Posts a signed webhook to the bot. */
  post(event: string, payload: unknown, deliveryId?: string): Promise<Response>;
};

/**
 * The usual integration setup: a fresh database and an in-process bot for the file, and a new
 * FakeGitHub behind nock (network off but 127.0.0.1) for each test.
 */
export function useGitHubBot(options: Omit<TestBotOptions, "databaseUrl"> = {}): GitHubHarness {
  let database: TestDatabase | undefined;
  let bot: TestBot | undefined;
  let fake: FakeGitHub | undefined;
  let deliveries = 0;
  beforeAll(async () => {
    database = await createTestDatabase();
    bot = await startTestBot({ databaseUrl: database.url, ...options });
  });
  afterAll(async () => {
    await bot?.stop();
    await database?.drop();
    nock.cleanAll();
    nock.enableNetConnect();
  });
  beforeEach(() => {
    nock.cleanAll();
    fake = new FakeGitHub();
    nockGitHub(fake);
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not ready outside a test`);
    return value;
  };
  return {
    get database() {
      return ready(database, "database");
    },
    get bot() {
      return ready(bot, "bot");
    },
    get fake() {
      return ready(fake, "fake GitHub");
    },
    async post(event, payload, deliveryId = `harness-${++deliveries}-${Date.now()}`) {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      return fetch(`${ready(bot, "bot").baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders(event, deliveryId, body), body });
    },
  };
}
