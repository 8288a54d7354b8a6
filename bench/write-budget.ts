import type { Flow } from "../src/sessions/flow.js";
import { startTestBot, testEnv, UNLIMITED_WRITES, type TestBot } from "../test/helpers/bot.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { mentionDelivery, ms, percentile, sleep, worstWindow, type BenchResult } from "./support.js";

/**
 * The budget's "minute", scaled down (WRITE_BUDGET_WINDOW_MS) so three minutes at each rate take
 * 18 s instead of 180 s; the limits, the mention rates per window and so the ratios are GitHub's.
 */
const WINDOW_MS = 6000;
const SCALE = WINDOW_MS / 60_000;
const MINUTES = 3;
/** The defaults (GITHUB_WRITES_PER_MINUTE, GITHUB_WRITES_PER_HOUR): the bench sets neither. */
const PER_MINUTE = 80;
const PER_HOUR = 500;
const TARGET_STARTED_P99 = 2000 * SCALE;
const TARGET_REPLY_P99 = 5000 * SCALE;

const instant: Flow = { name: "chat", run: async () => ({ kind: "finished", markdown: "ok" }) };

type Phase = { perMinute: number; sent: number; started: number[]; replyDelays: number[]; answered: number; worstPosts: number; worstDeletes: number; posts: number; elapsedS: number };

/**
 * One installation at `perMinute` mentions a (scaled) minute for MINUTES, on a fresh budget: at
 * its defaults, or raised out of the way (`unlimited`, the same-run baseline of the latencies).
 */
async function phase(perMinute: number, unlimited = false): Promise<Phase> {
  const database = await createTestDatabase();
  const github = new FakeGitHub();
  let bot: TestBot | null = null;
  const sentAt = new Map<number, number>();
  const startedAt = new Map<number, number>();
  const replyAt = new Map<number, number>();
  const postTimes: number[] = [];
  const deleteTimes: number[] = [];
  github.interceptors.push((r) => {
    if (r.method === "DELETE") deleteTimes.push(r.at);
    const m = /\/issues\/(\d+)\/comments$/.exec(r.path);
    if (!m || r.method !== "POST") return undefined;
    postTimes.push(r.at);
    const body = String((r.body as { body?: string }).body);
    if (body.includes("forgebot:started")) startedAt.set(Number(m[1]), r.at);
    if (body.includes("forgebot:reply")) replyAt.set(Number(m[1]), r.at);
    return undefined;
  });
  const env = testEnv({ databaseUrl: database.url, env: { GHE_PROTOCOL: "http", WRITE_BUDGET_WINDOW_MS: String(WINDOW_MS), ...(unlimited ? UNLIMITED_WRITES : {}) } });
  try {
    await github.start();
    bot = await startTestBot({ databaseUrl: database.url, flows: [instant], env: { ...env, GHE_HOST: github.host } });
    const count = perMinute * MINUTES;
    const deliveries = await Promise.all(Array.from({ length: count }, (_, i) => mentionDelivery(i, "@forgebot go", 1 + i, `budget${perMinute}`)));
    const url = `${bot.baseUrl}/api/github/webhooks`;
    const t0 = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const wait = t0 + (i * WINDOW_MS) / perMinute - Date.now();
      if (wait > 0) await sleep(wait);
      sentAt.set(1 + i, Date.now());
      sends.push(fetch(url, { method: "POST", ...deliveries[i]! }).then((r) => r.arrayBuffer()));
    }
    await Promise.all(sends);
    // Every post is owed: at most PER_MINUTE per window, so the queue drains within this.
    const deadline = Date.now() + ((2 * count) / PER_MINUTE + 3) * WINDOW_MS;
    while (replyAt.size < count && Date.now() < deadline) await sleep(50);
    const elapsedS = (Date.now() - t0) / 1000;
    const { rows } = await database.db.query<{ thread: number; finished: number }>(
      "SELECT thread_number AS thread, (EXTRACT(EPOCH FROM finished_at) * 1000)::float8 AS finished FROM sessions WHERE finished_at IS NOT NULL",
    );
    const replyDelays = rows.flatMap((r) => (replyAt.has(r.thread) ? [replyAt.get(r.thread)! - r.finished] : []));
    const started = [...sentAt].map(([n, t]) => (startedAt.get(n) ?? Infinity) - t);
    return {
      perMinute,
      sent: count,
      started,
      replyDelays,
      answered: replyAt.size,
      worstPosts: worstWindow(postTimes, WINDOW_MS),
      worstDeletes: worstWindow(deleteTimes, WINDOW_MS),
      posts: postTimes.length,
      elapsedS,
    };
  } finally {
    await bot?.stop();
    await github.stop();
    await database.drop();
    await dropRedisPrefix(env.QUEUE_PREFIX!);
  }
}

const scaled = (n: number) => `${ms(n)} (= ${(n / SCALE / 1000).toFixed(1)} s at real scale)`;

function describe(p: Phase): string[] {
  const demand = 2 * p.perMinute;
  return [
    `${p.perMinute} mentions a minute (${p.sent} in ${MINUTES} scaled minutes; demand ${demand} posts a minute ${demand > PER_MINUTE ? `> the limit ${PER_MINUTE}: replies wait by design` : `≤ the limit ${PER_MINUTE}`}): ` +
      `started note p50 ${scaled(percentile(p.started, 50))}, p99 ${scaled(percentile(p.started, 99))}; ` +
      `reply after the session ended p50 ${scaled(percentile(p.replyDelays, 50))}, p99 ${scaled(percentile(p.replyDelays, 99))}; ` +
      `${p.answered}/${p.sent} answered, last after ${p.elapsedS.toFixed(1)} s`,
    `${p.perMinute} a minute: worst window of posts ${p.worstPosts} (limit ${PER_MINUTE}; ${p.posts} posts in all), worst window of deletes ${p.worstDeletes} (their own lane, GITHUB_DELETES_PER_MINUTE 120)`,
  ];
}

/**
 * The write budget at its defaults in one installation: 30, then (on a fresh budget) 60 mentions
 * a minute for three minutes, an instant flow, a loopback forge. Time is scaled (see WINDOW_MS).
 */
export async function benchWriteBudget(): Promise<BenchResult> {
  const baseline = await phase(30, true);
  const slow = await phase(30);
  const fast = await phase(60);
  const p99 = (v: number[]) => percentile(v, 99);
  const lines = [
    `time scaled by ${SCALE}: WRITE_BUDGET_WINDOW_MS=${WINDOW_MS} makes the budget's minute ${WINDOW_MS / 1000} s (its hour ${(60 * WINDOW_MS) / 1000} s), 30 mentions a minute are one every ${WINDOW_MS / 30} ms and 60 one every ${WINDOW_MS / 60} ms, and windows of writes are counted over ${WINDOW_MS / 1000} s; latency targets are scaled by the same factor (started-note p99 2 s → ${ms(TARGET_STARTED_P99)}, reply p99 5 s → ${ms(TARGET_REPLY_P99)}), while the processing time itself (Postgres, queue, HTTP) is not, so the scaled targets are stricter than the real ones`,
    `limits at their defaults: ${PER_MINUTE} posts a minute, ${PER_HOUR} an hour; each rate starts on an empty budget; started notes = webhook sent → note received by the forge; reply delay = the session's finished_at → reply received by the forge`,
    `baseline, budget raised out of the way, 30 a minute: started note p50 ${ms(percentile(baseline.started, 50))}, p99 ${ms(p99(baseline.started))}; reply after the session ended p50 ${ms(percentile(baseline.replyDelays, 50))}, p99 ${ms(p99(baseline.replyDelays))} (what the machine adds without any budget wait)`,
    ...describe(slow),
    ...describe(fast),
  ];
  const missed: string[] = [];
  if (p99(slow.started) > TARGET_STARTED_P99) missed.push(`at 30 a minute the started-note p99 is ${scaled(p99(slow.started))} > ${ms(TARGET_STARTED_P99)} (2 s scaled), by ${ms(p99(slow.started) - TARGET_STARTED_P99)}; with the budget raised it was ${ms(p99(baseline.started))} in the same run`);
  if (p99(slow.replyDelays) > TARGET_REPLY_P99) missed.push(`at 30 a minute the reply-delay p99 is ${scaled(p99(slow.replyDelays))} > ${ms(TARGET_REPLY_P99)} (5 s scaled), by ${ms(p99(slow.replyDelays) - TARGET_REPLY_P99)}; with the budget raised it was ${ms(p99(baseline.replyDelays))} in the same run`);
  for (const p of [slow, fast]) {
    if (p.worstPosts > PER_MINUTE) missed.push(`at ${p.perMinute} a minute a window held ${p.worstPosts} posts > the limit ${PER_MINUTE} (by ${p.worstPosts - PER_MINUTE})`);
    if (p.answered < p.sent) missed.push(`at ${p.perMinute} a minute only ${p.answered} of ${p.sent} mentions were answered before the deadline`);
  }
  return { title: `Write budget at its defaults, one installation, 30 then 60 mentions a minute for ${MINUTES} minutes (time scaled ×${SCALE})`, lines, missed };
}
