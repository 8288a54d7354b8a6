import type { Flow } from "../src/sessions/flow.js";
import { startTestBot, UNLIMITED_WRITES, type TestBot } from "../test/helpers/bot.js";
import { createTestDatabase, uniquePrefix } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { mentionDelivery, ms, percentile, type BenchResult } from "./support.js";

const COUNT = 100;
const RATE = 20;

/** Holds every session worker until released: started notes must not wait for flows. */
function busyFlow(release: Promise<void>): Flow {
  return { name: "chat", run: async () => (await release, { kind: "finished", markdown: "ok" }) };
}

async function measure(budgetOn: boolean): Promise<number[]> {
  const database = await createTestDatabase();
  const github = new FakeGitHub();
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  const budget: Record<string, string> = budgetOn ? {} : UNLIMITED_WRITES;
  const prefix = uniquePrefix();
  let bot: TestBot | null = null;
  const sentAt = new Map<number, number>();
  const postedAt = new Map<number, number>();
  github.interceptors.push((r) => {
    const m = /\/issues\/(\d+)\/comments$/.exec(r.path);
    if (m && r.method === "POST" && String((r.body as { body?: string }).body).includes("forgebot:started")) postedAt.set(Number(m[1]), performance.now());
    return undefined;
  });
  try {
    await github.start();
    bot = await startTestBot({ databaseUrl: database.url, flows: [busyFlow(released)], env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", SESSION_CONCURRENCY: "4", QUEUE_PREFIX: prefix, ...budget } });
    const deliveries = await Promise.all(Array.from({ length: COUNT }, (_, i) => mentionDelivery(i, "@forgebot go", 1 + i, `note${budgetOn ? 1 : 0}`)));
    const url = `${bot.baseUrl}/api/github/webhooks`;
    for (let i = 0; i < COUNT; i++) {
      sentAt.set(1 + i, performance.now());
      void fetch(url, { method: "POST", ...deliveries[i]! }).then((r) => r.arrayBuffer());
      await new Promise((r) => setTimeout(r, 1000 / RATE));
    }
    const deadline = Date.now() + 90_000;
    while (postedAt.size < COUNT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return [...sentAt].map(([n, t]) => (postedAt.get(n) ?? Infinity) - t);
  } finally {
    release();
    await bot?.stop();
    await github.stop();
    await database.drop();
    await dropRedisPrefix(prefix);
  }
}

/** Webhook → started note posted, with every session worker busy; budget raised, then at its defaults. */
export async function benchStartedNote(): Promise<BenchResult> {
  const off = await measure(false);
  const on = await measure(true);
  const fmt = (l: number[]) => `p50 ${ms(percentile(l, 50))}, p99 ${ms(percentile(l, 99))}, posted ${l.filter(Number.isFinite).length}/${l.length}`;
  const lines = [
    `write budget raised (throttle off): ${fmt(off)}`,
    `write budget ON at its defaults (80/min, 500/h): ${fmt(on)}`,
  ];
  const missed: string[] = [];
  if (percentile(off, 99) > 300) missed.push(`started note p99 ${ms(percentile(off, 99))} > 300 ms with the budget raised`);
  if (percentile(on, 99) > 300) missed.push(`with the write budget at its defaults the started note p99 is ${ms(percentile(on, 99))}: ${COUNT} mentions in ${COUNT / RATE} s on one installation exceed GitHub's documented 80 writes/min; the budget queues them by design (not a target of the issue)`);
  return { title: `Webhook → started note (loopback forge), ${COUNT} mentions at ${RATE}/s, all 4 session workers busy`, lines, missed };
}
