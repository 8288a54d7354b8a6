import { signedHeaders } from "../test/helpers/github-app.js";
import type { TestDatabase } from "../test/helpers/db.js";
import { githubExample } from "../test/helpers/payloads.js";
import { closedLoop, type LoadRequest, type LoadResult } from "./closed-loop.js";
import { startContenders } from "./contenders.js";
import { median, ms, percentile, type BenchResult } from "./support.js";

const CONCURRENCY = 20;
const ROUNDS = 5;
const ROUND_MS = 3000;
const WARMUP_MS = 1500;
/** Distinct signed bodies (distinct comments), cycled; every request has its own delivery id. */
const POOL = 8000;

type Contender = "forgebot" | "bare Probot" | "floor";
const CONTENDERS: Contender[] = ["forgebot", "bare Probot", "floor"];

/** POOL signed `issue_comment` bodies mentioning the bot, each a different comment and thread. */
async function signedPool(): Promise<{ body: Buffer; signature: string }[]> {
  const template = githubExample("issue_comment", "created");
  return Promise.all(
    Array.from({ length: POOL }, async (_, i) => {
      const payload = structuredClone(template);
      payload.comment.id = 7_000_000 + i;
      payload.comment.body = `@forgebot help ${i}`;
      payload.issue.number = 1 + i;
      const text = JSON.stringify(payload);
      const headers = await signedHeaders("issue_comment", "unused", text);
      return { body: Buffer.from(text), signature: headers["x-hub-signature-256"]! };
    }),
  );
}

/** Request after request for one server: the next pooled body under a delivery id never used before. */
function requests(pool: { body: Buffer; signature: string }[], name: string): () => LoadRequest {
  let seq = 0;
  const tag = name.replace(/\W/g, "");
  return () => {
    const signed = pool[seq % pool.length]!;
    const id = `ingest-${tag}-${seq++}`;
    return { body: signed.body, headers: { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": id, "x-hub-signature-256": signed.signature } };
  };
}

const rate = (r: LoadResult) => r.completed / (r.elapsedMs / 1000);
const p99 = (r: LoadResult) => percentile(r.latencies, 99);
const range = (v: number[], f: (n: number) => string) => `${f(Math.min(...v))}–${f(Math.max(...v))}`;
const perS = (n: number) => n.toFixed(0);
const x = (n: number) => `${n.toFixed(2)}×`;

/**
 * Webhook ingest at saturation: closed-loop load (CONCURRENCY keep-alive connections, signed
 * `issue_comment` deliveries) on `forgebot web` vs a bare Probot app that only acknowledges vs
 * the durability floor (bench/servers/floor.ts), each its own process, in alternated rounds.
 */
export async function benchIngest(): Promise<BenchResult> {
  const contenders = await startContenders({ withNull: true });
  try {
    const { servers } = contenders;
    const pool = await signedPool();
    const next = new Map(servers.map((s) => [s.name, requests(pool, s.name)]));
    const load = (name: string, durationMs: number) => closedLoop(contenders.url(name), { concurrency: CONCURRENCY, durationMs, request: next.get(name)! });

    // Warm-up (connections, JIT, prepared plans), not counted.
    for (const s of servers) await load(s.name, WARMUP_MS);
    const ceiling = await load("null", ROUND_MS);
    const rounds: Record<Contender, LoadResult>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round = {} as Record<Contender, LoadResult>;
      // Rotated order: no contender always runs first (or last) after the machine's other load.
      for (let k = 0; k < CONTENDERS.length; k++) {
        const name = CONTENDERS[(r + k) % CONTENDERS.length]!;
        round[name] = await load(name, ROUND_MS);
      }
      rounds.push(round);
    }

    const accepted = (name: Contender) => rounds.reduce((a, r) => a + (r[name].statuses.get(202) ?? 0), 0);
    const rows = async (db: TestDatabase) => Number((await db.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries")).rows[0]!.n);
    const [ourRows, floorRows] = [await rows(contenders.databases.forgebot), await rows(contenders.databases.floor)];
    return report(rounds, ceiling, pool[0]!.body.length, { forgebot: { accepted: accepted("forgebot"), rows: ourRows }, floor: { accepted: accepted("floor"), rows: floorRows } });
  } finally {
    await contenders.close();
  }
}

type Durability = Record<"forgebot" | "floor", { accepted: number; rows: number }>;

function report(rounds: Record<Contender, LoadResult>[], ceiling: LoadResult, bodyBytes: number, durability: Durability): BenchResult {
  const of = (name: Contender) => rounds.map((r) => r[name]);
  const ratios = (a: Contender, b: Contender, f: (r: LoadResult) => number) => rounds.map((r) => f(r[a]) / f(r[b]));
  const tputBare = median(ratios("forgebot", "bare Probot", rate));
  const tputFloor = median(ratios("forgebot", "floor", rate));
  const p99Bare = median(ratios("forgebot", "bare Probot", p99));
  const p99Floor = median(ratios("forgebot", "floor", p99));
  const floorVsBare = median(ratios("floor", "bare Probot", rate));
  const describe = (name: Contender) => {
    const runs = of(name);
    const errors = runs.reduce((a, r) => a + r.errors, 0);
    return `${name}: ${range(runs.map(rate), perS)} req/s (median ${perS(median(runs.map(rate)))}), p99 ${range(runs.map(p99), ms)} (median ${ms(median(runs.map(p99)))}), p50 median ${ms(median(runs.map((r) => percentile(r.latencies, 50))))}, errors ${errors}`;
  };
  const lines = [
    `closed loop, ${CONCURRENCY} keep-alive connections from the bench process, ${ROUNDS} alternated rounds of ${ROUND_MS / 1000} s per server (order rotated each round), signed \`issue_comment\` mentions (${(bodyBytes / 1024).toFixed(1)} KiB bodies, ${POOL} distinct comments, a new delivery id per request); each server its own Node process, on the machine's Postgres and Redis`,
    `load generator ceiling (a server that reads the body and answers 202): ${perS(rate(ceiling))} req/s, p99 ${ms(p99(ceiling))}`,
    describe("forgebot"),
    `${describe("bare Probot")} (baseline: verify, parse, acknowledge)`,
    `${describe("floor")} (second baseline: verify, parse, one INSERT, one BullMQ add, 202)`,
    `median of per-round ratios: throughput forgebot/bare Probot ${x(tputBare)}, forgebot/floor ${x(tputFloor)}, floor/bare Probot ${x(floorVsBare)}; p99 forgebot/bare Probot ${x(p99Bare)}, forgebot/floor ${x(p99Floor)}`,
    `durability check: forgebot answered 202 to ${durability.forgebot.accepted} deliveries in the rounds and holds ${durability.forgebot.rows} delivery rows (warm-up included); the floor ${durability.floor.accepted} and ${durability.floor.rows}`,
  ];
  const missed: string[] = [];
  const floorNote = `the floor (one INSERT + one BullMQ add per delivery) reached ${x(floorVsBare)} bare Probot's throughput in the same rounds, forgebot ${x(tputFloor)} of the floor`;
  if (tputBare < 0.5) missed.push(`ingest throughput ${x(tputBare)} bare Probot's < 0.5× (short by ${x(0.5 - tputBare)} of bare Probot); ${floorNote}`);
  if (p99Bare > 1.5) missed.push(`ingest p99 ${x(p99Bare)} bare Probot's > 1.5× (over by ${x(p99Bare - 1.5)}); forgebot's p99 is ${x(p99Floor)} the floor's`);
  if (durability.forgebot.rows < durability.forgebot.accepted) missed.push(`forgebot answered 202 to more deliveries (${durability.forgebot.accepted}) than it recorded (${durability.forgebot.rows})`);
  return { title: `Webhook ingest at saturation (concurrency ${CONCURRENCY}): forgebot vs bare Probot vs the durability floor`, lines, missed };
}
