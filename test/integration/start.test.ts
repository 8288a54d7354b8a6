import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Redis } from "ioredis";
import { waitFor } from "../helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { signedHeaders, testPrivateKey, WEBHOOK_SECRET } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";
import { freePort, spawnForgebot, stopProcess, type BotProcess } from "../helpers/processes.js";

/** `forgebot start` as a newcomer runs it: a real process, answering a real mention end to end. */
let fake: FakeGitHub;
const dataDirs: string[] = [];

beforeAll(async () => {
  fake = await new FakeGitHub().start();
});

afterAll(async () => {
  await fake.stop();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

async function answerOneMention(port: number, delivery: string, commentId: number) {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = commentId;
    p.issue.number = commentId;
    p.comment.body = "@forgebot help";
  });
  const body = JSON.stringify(payload);
  const res = await fetch(`http://127.0.0.1:${port}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", delivery, body), body });
  expect(res.status).toBe(202);
  return waitFor("reply", () => fake.live({ number: commentId }).find((c) => c.body.includes("forgebot:reply")), 30_000);
}

function githubEnv(): Record<string, string> {
  return { APP_ID: "12345", PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET, GHE_HOST: fake.host, GHE_PROTOCOL: "http", BOT_HANDLE: "forgebot" };
}

describe("forgebot start", () => {
  it("with nothing configured comes up on embedded Postgres and BullMQ-on-Postgres", async () => {
    const bare = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), "forgebot-start-"));
    dataDirs.push(dataDir);
    const proc = spawnForgebot(["start"], { PORT: String(bare), DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) });
    try {
      const health = await waitFor("healthz", () => fetch(`http://127.0.0.1:${bare}/healthz`).then((r) => r.status === 200).catch(() => false), 60_000);
      expect(health).toBe(true);
      const ready = await fetch(`http://127.0.0.1:${bare}/readyz`);
      expect(ready.status).toBe(200);
      expect(proc.output()).toContain('"queue":"postgres"');
      expect(proc.output()).toContain('"embeddedPostgres":true');
      // Without a GitHub App the webhook route says what to configure instead of failing.
      const github = await fetch(`http://127.0.0.1:${bare}/api/github/webhooks`, { method: "POST", body: "{}" });
      expect(github.status).toBe(503);
      expect(await stopProcess(proc)).toBe(0);
    } finally {
      await stopProcess(proc, "SIGKILL");
    }
  });

  it("on embedded Postgres answers a mention through the whole lifecycle", async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), "forgebot-start-"));
    dataDirs.push(dataDir);
    const proc = spawnForgebot(["start"], { ...githubEnv(), PORT: String(port), DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) });
    try {
      await waitFor("healthz", () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false), 60_000);
      const reply = await answerOneMention(port, "embedded-1", 81_001);
      expect(reply.body).toContain("[View session](http://localhost:");
      expect(await stopProcess(proc)).toBe(0);
    } finally {
      await stopProcess(proc, "SIGKILL");
    }
  });

  describe("with DATABASE_URL and REDIS_URL set", () => {
    let database: TestDatabase;
    let proc: BotProcess | undefined;
    beforeAll(async () => {
      database = await createTestDatabase({ migrate: false });
    });
    afterAll(async () => {
      if (proc) await stopProcess(proc, "SIGKILL");
      await database.drop();
    });

    it("uses them: sessions land in that database and jobs in that Redis", async () => {
      const port = await freePort();
      const prefix = uniquePrefix();
      proc = spawnForgebot(["start"], { ...githubEnv(), PORT: String(port), DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix });
      await waitFor("healthz", () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false), 30_000);
      expect(proc.output()).toContain('"queue":"redis"');
      expect(proc.output()).toContain('"embeddedPostgres":false');
      await answerOneMention(port, "external-1", 81_002);

      const { rows } = await database.db.query<{ status: string }>("SELECT status FROM sessions");
      expect(rows).toEqual([{ status: "finished" }]);
      const redis = new Redis(TEST_REDIS_URL);
      try {
        // QUEUE_PREFIX, then the database's queue namespace (installation.queue_namespace).
        const { rows: installation } = await database.db.query<{ queue_namespace: string }>("SELECT queue_namespace FROM installation");
        const namespaced = `${prefix}-${installation[0]!.queue_namespace}`;
        const keys = await redis.keys(`${prefix}-*`);
        expect(keys.some((k) => k.startsWith(`${namespaced}:lifecycle:`))).toBe(true);
        expect(keys.some((k) => k.startsWith(`${namespaced}:sessions:`))).toBe(true);
        await Promise.all(keys.map((k) => redis.del(k)));
      } finally {
        redis.disconnect();
      }
      expect(await stopProcess(proc)).toBe(0);
    });
  });
});
