import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase } from "../../helpers/db.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { TcpProxy } from "../../helpers/tcp-proxy.js";
import { delta, scrape, value } from "./scrape.js";

/**
 * `/healthz` and `/readyz` while Postgres, then Redis, go away and come back. The machine's
 * services keep running for every other test: this bot reaches them through TCP proxies that
 * the test cuts and restores.
 */
let database: TestDatabase;
let postgres: TcpProxy;
let redis: TcpProxy;
let bot: TestBot;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${bot.baseUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function postMention(deliveryId: string): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = 7_300_001;
    p.comment.body = "@forgebot are you there?";
  });
  const body = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", deliveryId, body), body });
  return res.status;
}

beforeAll(async () => {
  database = await createTestDatabase();
  postgres = await TcpProxy.for(database.url).start();
  redis = await TcpProxy.for(TEST_REDIS_URL).start();
  bot = await startTestBot({
    databaseUrl: postgres.rewrite(database.url),
    roles: { web: true, workers: false },
    env: { REDIS_URL: redis.rewrite(TEST_REDIS_URL) },
  });
});

afterAll(async () => {
  postgres.restore();
  redis.restore();
  await bot.stop();
  await Promise.all([postgres.stop(), redis.stop()]);
  await database.drop();
});

describe("/readyz", () => {
  it("turns 503 while Postgres is unreachable and 200 once it is back", async () => {
    expect(await get("/readyz")).toEqual({ status: 200, body: { status: "ready", checks: { postgres: "ok", queue: "ok" } } });
    const before = await scrape(bot.baseUrl);

    postgres.cut();
    expect(await get("/readyz")).toEqual({ status: 503, body: { status: "not ready", checks: { postgres: "down", queue: "ok" } } });
    expect(await get("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    // A webhook that cannot be recorded is a 500 the forge redelivers, and a webhook-SLO error.
    expect(await postMention("outage-1")).toBe(500);
    // /metrics still answers; the gauge read from Postgres is left out and its failure counted.
    const during = await scrape(bot.baseUrl);
    expect(delta(before, during, "forgebot_webhooks_received_total", { forge: "github", event: "issue_comment", outcome: "error" })).toBe(1);
    expect(value(before, "forgebot_metrics_source_up", { source: "sessions" })).toBe(1);
    expect(value(during, "forgebot_metrics_source_up", { source: "sessions" })).toBe(0);
    expect(value(during, "forgebot_metrics_source_up", { source: "queue" })).toBe(1);
    expect([...during.keys()].some((k) => k.startsWith("forgebot_sessions{"))).toBe(false);

    postgres.restore();
    const back = await waitFor("readyz 200", async () => {
      const r = await get("/readyz");
      return r.status === 200 ? r : null;
    });
    expect(back.body).toEqual({ status: "ready", checks: { postgres: "ok", queue: "ok" } });
    // The forge's redelivery of the failed webhook now goes through.
    expect(await postMention("outage-1")).toBe(202);
    const after = await scrape(bot.baseUrl);
    expect(delta(before, after, "forgebot_webhooks_received_total", { forge: "github", event: "issue_comment", outcome: "accepted" })).toBe(1);
    expect(value(after, "forgebot_sessions", { status: "created" })).toBe(0);
    expect(value(after, "forgebot_metrics_source_up", { source: "sessions" })).toBe(1);
  });

  it("turns 503 while the queue backend is unreachable and 200 once it is back", async () => {
    redis.cut();
    const down = await waitFor("readyz 503", async () => {
      const r = await get("/readyz");
      return r.status === 503 ? r : null;
    });
    expect(down.body).toEqual({ status: "not ready", checks: { postgres: "ok", queue: "down" } });
    expect((await get("/healthz")).status).toBe(200);
    const during = await scrape(bot.baseUrl);
    expect(value(during, "forgebot_metrics_source_up", { source: "queue" })).toBe(0);
    expect([...during.keys()].some((k) => k.startsWith("forgebot_queue_jobs{"))).toBe(false);

    redis.restore();
    const back = await waitFor("readyz 200", async () => {
      const r = await get("/readyz");
      return r.status === 200 ? r : null;
    });
    expect(back.body).toEqual({ status: "ready", checks: { postgres: "ok", queue: "ok" } });
  });
});
