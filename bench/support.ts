import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { signedHeaders } from "../test/helpers/github-app.js";
import { githubExample } from "../test/helpers/payloads.js";

/** Shared pieces of the benchmarks: percentiles, the machine, signed mention deliveries. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const ms = (n: number) => `${n.toFixed(2)} ms`;
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

export function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? "unknown cpu"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

const template = githubExample("issue_comment", "created");

/** A signed `issue_comment` delivery mentioning the bot in thread `thread`, unique per `i`. */
export async function mentionDelivery(i: number, text: string, thread = 1 + i, prefix = "bench"): Promise<{ body: string; headers: Record<string, string> }> {
  const payload = structuredClone(template);
  payload.comment.id = 5_000_000 + i;
  payload.comment.body = text;
  payload.comment.created_at = new Date().toISOString();
  payload.issue.number = thread;
  const body = JSON.stringify(payload);
  return { body, headers: await signedHeaders("issue_comment", `${prefix}-${i}`, body) };
}

/**
 * Open-loop load: starts one request every 1000/rate ms for `seconds` regardless of answers
 * (so slow answers show as latency, not as a lower rate), and returns each latency.
 */
export async function openLoop(rate: number, seconds: number, send: (i: number) => Promise<number>): Promise<{ latencies: number[]; errors: number; elapsedMs: number }> {
  const total = rate * seconds;
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      (async () => {
        const t0 = performance.now();
        try {
          const status = await send(i);
          if (status >= 300) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(pending);
  return { latencies, errors, elapsedMs: performance.now() - started };
}

export type BenchResult = { title: string; lines: string[]; missed: string[] };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects with `what` when `promise` has not settled within `ms`: no suite may hang the run. */
export async function withDeadline<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The most events in any window of `windowMs` (each window starting at an event). */
export function worstWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let start = 0, end = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    worst = Math.max(worst, end - start);
  }
  return worst;
}

/** The median of `values` (NaN when empty). */
export function median(values: number[]): number {
  return percentile(values, 50);
}
