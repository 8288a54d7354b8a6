import { createServer } from "node:http";
import { createNodeMiddleware, Probot } from "probot";
import { startTestBot, type TestBot } from "../test/helpers/bot.js";
import { createTestDatabase, uniquePrefix } from "../test/helpers/db.js";
import { testPrivateKey, WEBHOOK_SECRET } from "../test/helpers/github-app.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { mentionDelivery, ms, openLoop, percentile, ratio, type BenchResult } from "./support.js";

const RATE = 200;
const SECONDS = 5;

/** A bare Probot app that acknowledges `issue_comment` and does nothing: the baseline. */
async function bareProbot(): Promise<{ url: string; close(): Promise<void> }> {
  const probot = new Probot({ appId: 1, privateKey: testPrivateKey(), secret: WEBHOOK_SECRET, logLevel: "fatal" });
  const middleware = await createNodeMiddleware((app) => app.on("issue_comment", async () => undefined), { probot, webhooksPath: "/api/github/webhooks" });
  const server = createServer((req, res) => {
    void middleware(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/api/github/webhooks`, close: () => new Promise((r) => server.close(() => r())) };
}

async function measure(url: string, prefix: string) {
  // Pre-sign so signing cost stays out of the latency.
  const deliveries = await Promise.all(Array.from({ length: RATE * SECONDS + 50 }, (_, i) => mentionDelivery(i, "@forgebot help", 1 + (i % 100), prefix)));
  // Warm-up: connections, JIT, prepared plans.
  for (let i = 0; i < 50; i++) await fetch(url, { method: "POST", ...deliveries[RATE * SECONDS + i]! }).then((r) => r.arrayBuffer());
  return openLoop(RATE, SECONDS, async (i) => {
    const res = await fetch(url, { method: "POST", ...deliveries[i]! });
    await res.arrayBuffer();
    return res.status;
  });
}

/** Webhook acknowledgement latency at 200 req/s: forgebot (verify, record, enqueue) vs bare Probot. */
export async function benchAck(): Promise<BenchResult> {
  const database = await createTestDatabase();
  const prefix = uniquePrefix();
  let bot: TestBot | null = null;
  let bare: Awaited<ReturnType<typeof bareProbot>> | null = null;
  try {
    bot = await startTestBot({ databaseUrl: database.url, roles: { web: true, workers: false }, env: { GHE_HOST: "127.0.0.1:9", GHE_PROTOCOL: "http", QUEUE_PREFIX: prefix } });
    bare = await bareProbot();
    const base = await measure(bare.url, "bare");
    const ours = await measure(`${bot.baseUrl}/api/github/webhooks`, "ack");
    const p = (r: typeof base, q: number) => percentile(r.latencies, q);
    const tput = (r: typeof base) => (r.latencies.length / (r.elapsedMs / 1000)).toFixed(0);
    const lines = [
      `forgebot: p50 ${ms(p(ours, 50))}, p99 ${ms(p(ours, 99))}, ${tput(ours)} req/s offered ${RATE}/s, errors ${ours.errors}/${ours.latencies.length}`,
      `bare Probot (baseline): p50 ${ms(p(base, 50))}, p99 ${ms(p(base, 99))}, ${tput(base)} req/s, errors ${base.errors}/${base.latencies.length}`,
      `ratio p99 forgebot / baseline: ${ratio(p(ours, 99), p(base, 99))}; p50: ${ratio(p(ours, 50), p(base, 50))}`,
    ];
    const missed: string[] = [];
    if (p(ours, 99) > 15) missed.push(`ack p99 ${ms(p(ours, 99))} > 15 ms`);
    if (p(ours, 99) > 1.5 * p(base, 99)) missed.push(`ack p99 is ${ratio(p(ours, 99), p(base, 99))} the baseline's (target ≤ 1.5×): forgebot writes the delivery to Postgres and enqueues to Redis inside the request, the baseline does neither`);
    return { title: `Webhook ack latency at ${RATE} req/s for ${SECONDS} s (write budget not involved: no forge call in the request)`, lines, missed };
  } finally {
    await bare?.close();
    await bot?.stop();
    await database.drop();
    await dropRedisPrefix(prefix);
  }
}
