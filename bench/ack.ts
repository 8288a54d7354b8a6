import { startContenders } from "./contenders.js";
import { mentionDelivery, ms, openLoop, percentile, ratio, type BenchResult } from "./support.js";

const RATE = 200;
const SECONDS = 5;

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

/**
 * Webhook acknowledgement latency at 200 req/s, each server its own process: `forgebot web`
 * (verify, record, enqueue) vs a bare Probot app that only acknowledges, and vs the durability
 * floor (bench/servers/floor.ts: verify, one INSERT, one BullMQ add, 202) as a second baseline,
 * so a gap to bare Probot shows how much of it durability itself costs.
 */
export async function benchAck(): Promise<BenchResult> {
  const contenders = await startContenders();
  try {
    const { url } = contenders;
    const base = await measure(url("bare Probot"), "bare");
    const mine = await measure(url("forgebot"), "ack");
    const least = await measure(url("floor"), "floor");
    const p = (r: typeof base, q: number) => percentile(r.latencies, q);
    const tput = (r: typeof base) => (r.latencies.length / (r.elapsedMs / 1000)).toFixed(0);
    const figures = (r: typeof base) => `p50 ${ms(p(r, 50))}, p99 ${ms(p(r, 99))}, ${tput(r)} req/s, errors ${r.errors}/${r.latencies.length}`;
    const lines = [
      `each server its own Node process on the machine's Postgres and Redis; open loop, ${RATE} signed \`issue_comment\` mentions a second for ${SECONDS} s, after 50 warm-up requests`,
      `forgebot: ${figures(mine)} (offered ${RATE}/s)`,
      `bare Probot (baseline: verify, parse, acknowledge): ${figures(base)}`,
      `floor (second baseline: verify, parse, one INSERT, one BullMQ add, 202): ${figures(least)}`,
      `ratio forgebot / bare Probot p99 ${ratio(p(mine, 99), p(base, 99))}, p50 ${ratio(p(mine, 50), p(base, 50))}; forgebot / floor p99 ${ratio(p(mine, 99), p(least, 99))}, p50 ${ratio(p(mine, 50), p(least, 50))}`,
    ];
    const missed: string[] = [];
    const floorNote = `the floor's p99 is ${ms(p(least, 99))} (${ratio(p(least, 99), p(base, 99))} bare Probot's): a Postgres commit and a BullMQ add before answering, which bare Probot does not do, are the least a receiver that never loses a delivery does`;
    if (p(mine, 99) > 15) missed.push(`ack p99 ${ms(p(mine, 99))} > 15 ms (by ${ms(p(mine, 99) - 15)}); ${floorNote}`);
    if (p(mine, 99) > 1.5 * p(base, 99)) missed.push(`ack p99 is ${ratio(p(mine, 99), p(base, 99))} bare Probot's (target ≤ 1.5×); ${floorNote}`);
    return { title: `Webhook ack latency at ${RATE} req/s for ${SECONDS} s (write budget not involved: no forge call in the request)`, lines, missed };
  } finally {
    await contenders.close();
  }
}
