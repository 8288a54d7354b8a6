import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { bindScrapeSources, forgeRequestErrorOutcome, forgeRequestOutcome, lifecycleMetrics, registry, type ScrapeSources } from "../../../src/metrics/index.js";
import { checkReady } from "../../../src/web/ops-routes.js";
import { parseMetrics, value, type Samples } from "../../integration/observability/scrape.js";

const METRICS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../src/metrics");
/** The label names DESIGN.md allows: bounded sets, never ids (flow, step, origin, reason: the review, change and sign-in flows). */
const BOUNDED_LABELS = new Set(["forge", "event", "outcome", "op", "status", "phase", "provider", "kind", "action", "queue", "state", "source", "flow", "step", "origin", "reason"]);

let unbind: (() => void) | null = null;
afterEach(() => {
  unbind?.();
  unbind = null;
});

async function scrapeRegistry(): Promise<Samples> {
  return parseMetrics(await registry.metrics());
}

function bind(sources: ScrapeSources): void {
  unbind = bindScrapeSources(sources);
}

describe("metric definitions", () => {
  beforeAll(async () => {
    // Every file of src/metrics registers into the one registry.
    for (const file of readdirSync(METRICS_DIR).filter((f) => f.endsWith(".ts"))) await import(path.join(METRICS_DIR, file));
  });

  it("are named forgebot_*, counters end in _total, histograms in _seconds or _bytes, labels are bounded", async () => {
    const problems: string[] = [];
    const metrics = (await registry.getMetricsAsJSON()).filter((m) => !m.name.startsWith("forgebot_process_"));
    expect(metrics.length).toBeGreaterThanOrEqual(15);
    for (const m of metrics) {
      if (!m.name.startsWith("forgebot_")) problems.push(`${m.name}: no forgebot_ prefix`);
      if (String(m.type) === "counter" && !m.name.endsWith("_total")) problems.push(`${m.name}: counter without _total`);
      // Histograms measure a duration or a size, in Prometheus base units.
      if (String(m.type) === "histogram" && !/_(seconds|bytes)$/.test(m.name)) problems.push(`${m.name}: histogram not in _seconds or _bytes`);
      for (const label of (registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }).labelNames) {
        if (!BOUNDED_LABELS.has(label)) problems.push(`${m.name}: label ${label}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("export the SLO series at 0 before the first error, so rate() sees it", async () => {
    const samples = await scrapeRegistry();
    for (const outcome of ["ok", "error"]) expect(samples.has(`forgebot_checkpoint_operations_total{op="write",outcome="${outcome}"}`)).toBe(true);
    for (const forge of ["github", "gitlab"]) {
      expect(samples.has(`forgebot_deliveries_total{forge="${forge}",outcome="failed"}`)).toBe(true);
      for (const outcome of ["posted", "found_existing", "failed"]) expect(samples.has(`forgebot_reviews_total{forge="${forge}",outcome="${outcome}"}`)).toBe(true);
      for (const outcome of ["published", "failed"]) expect(samples.has(`forgebot_publishes_total{forge="${forge}",outcome="${outcome}"}`)).toBe(true);
    }
  });

  it("count tracked errors by phase and reaper actions through the lifecycle port", async () => {
    const before = await scrapeRegistry();
    lifecycleMetrics.trackedError("started_note_delete");
    lifecycleMetrics.reaperAction("session_timed_out");
    const after = await scrapeRegistry();
    expect(value(after, "forgebot_tracked_errors_total", { phase: "started_note_delete" }) - value(before, "forgebot_tracked_errors_total", { phase: "started_note_delete" })).toBe(1);
    expect(value(after, "forgebot_reaper_actions_total", { action: "session_timed_out" }) - value(before, "forgebot_reaper_actions_total", { action: "session_timed_out" })).toBe(1);
  });
});

describe("forge request outcomes", () => {
  it.each([
    [200, {}, "ok"],
    [204, {}, "ok"],
    [304, {}, "ok"],
    [404, {}, "client_error"],
    [401, {}, "client_error"],
    [403, {}, "client_error"],
    [403, { "x-ratelimit-remaining": "0" }, "rate_limited"],
    [403, { "retry-after": "60" }, "rate_limited"],
    [429, {}, "rate_limited"],
    [502, {}, "server_error"],
    [undefined, {}, "network_error"],
  ] as const)("status %s %j → %s", (status, headers, outcome) => {
    expect(forgeRequestOutcome(status, headers)).toBe(outcome);
  });

  it("reads the status and headers of a thrown Octokit error", () => {
    expect(forgeRequestErrorOutcome(Object.assign(new Error("x"), { status: 403, response: { headers: { "x-ratelimit-remaining": "0" } } }))).toBe("rate_limited");
    expect(forgeRequestErrorOutcome(new Error("socket hang up"))).toBe("network_error");
    expect(forgeRequestErrorOutcome("not an error")).toBe("network_error");
  });
});

describe("gauges read at scrape time", () => {
  const queue = (counts: Record<string, number>) => ({ getJobCounts: async () => counts });

  it("report sessions by status, the oldest heartbeat and queue jobs, with one Postgres read per scrape", async () => {
    let reads = 0;
    bind({
      activeSessions: async () => {
        reads++;
        return [
          { status: "running", count: 3, oldestHeartbeatAgeSeconds: 42.5 },
          { status: "input_required", count: 1, oldestHeartbeatAgeSeconds: 600 },
        ];
      },
      queues: { lifecycle: queue({ waiting: 1, prioritized: 4, "waiting-children": 0, active: 2, delayed: 5, failed: 6 }), sessions: queue({ active: 1 }) },
    });
    const s = await scrapeRegistry();
    expect(reads).toBe(1);
    expect({
      running: value(s, "forgebot_sessions", { status: "running" }),
      created: value(s, "forgebot_sessions", { status: "created" }),
      inputRequired: value(s, "forgebot_sessions", { status: "input_required" }),
      paused: s.has('forgebot_sessions{status="paused"}'),
      finished: s.has('forgebot_sessions{status="finished"}'),
      runningAge: value(s, "forgebot_session_heartbeat_age_seconds", { status: "running" }),
      lifecycleWaiting: value(s, "forgebot_queue_jobs", { queue: "lifecycle", state: "waiting" }),
      lifecycleActive: value(s, "forgebot_queue_jobs", { queue: "lifecycle", state: "active" }),
      lifecycleDelayed: value(s, "forgebot_queue_jobs", { queue: "lifecycle", state: "delayed" }),
      lifecycleFailed: value(s, "forgebot_queue_jobs", { queue: "lifecycle", state: "failed" }),
      sessionsActive: value(s, "forgebot_queue_jobs", { queue: "sessions", state: "active" }),
      sessionsUp: value(s, "forgebot_metrics_source_up", { source: "sessions" }),
      queueUp: value(s, "forgebot_metrics_source_up", { source: "queue" }),
    }).toEqual({
      running: 3,
      created: 0,
      inputRequired: 1,
      paused: true,
      finished: false,
      runningAge: 42.5,
      lifecycleWaiting: 5,
      lifecycleActive: 2,
      lifecycleDelayed: 5,
      lifecycleFailed: 6,
      sessionsActive: 1,
      sessionsUp: 1,
      queueUp: 1,
    });
    await scrapeRegistry();
    expect(reads).toBe(2);
  });

  it("leave a failing source's series out and say so, without failing the scrape", async () => {
    bind({
      activeSessions: async () => {
        throw new Error("Connection terminated unexpectedly");
      },
      queues: { lifecycle: queue({ active: 1 }) },
    });
    const s = await scrapeRegistry();
    expect([...s.keys()].filter((k) => k.startsWith("forgebot_sessions{") || k.startsWith("forgebot_session_heartbeat_age_seconds{"))).toEqual([]);
    expect(value(s, "forgebot_metrics_source_up", { source: "sessions" })).toBe(0);
    expect(value(s, "forgebot_metrics_source_up", { source: "queue" })).toBe(1);
    expect(value(s, "forgebot_queue_jobs", { queue: "lifecycle", state: "active" })).toBe(1);
  });

  it("give up on a source that does not answer within 2 s", async () => {
    bind({ activeSessions: () => new Promise(() => undefined), queues: { lifecycle: { getJobCounts: () => new Promise(() => undefined) } } });
    const s = await scrapeRegistry();
    expect(value(s, "forgebot_metrics_source_up", { source: "sessions" })).toBe(0);
    expect(value(s, "forgebot_metrics_source_up", { source: "queue" })).toBe(0);
  });

  it("export nothing once unbound", async () => {
    bind({ activeSessions: async () => [{ status: "running", count: 1, oldestHeartbeatAgeSeconds: 1 }] });
    unbind?.();
    unbind = null;
    const s = await scrapeRegistry();
    expect([...s.keys()].filter((k) => /^forgebot_(sessions|queue_jobs|metrics_source_up)\{/.test(k))).toEqual([]);
  });
});

describe("readiness probes", () => {
  it("report each dependency as ok or down, a hung one after 2 s", async () => {
    const checks = await checkReady({
      postgres: async () => "ok",
      queue: async () => {
        throw new Error("ECONNREFUSED");
      },
      hung: () => new Promise(() => undefined),
    });
    expect(checks).toEqual({ postgres: "ok", queue: "down", hung: "down" });
  });
});
