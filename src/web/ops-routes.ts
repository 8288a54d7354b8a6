import { sendJson } from "./http.js";
import type { Router } from "./router.js";
import { within } from "./time-limit.js";
import { registry } from "../metrics/registry.js";

export type ProbeResult = "ok" | "down";
/** Named dependency checks; each resolves when its dependency answers. */
export type ReadinessProbes = Record<string, () => Promise<unknown>>;

const PROBE_TIMEOUT_MS = 2000;

function probe(check: () => Promise<unknown>): Promise<ProbeResult> {
  const answered = Promise.resolve()
    .then(check)
    .then(() => "ok" as const, () => "down" as const);
  return within(answered, PROBE_TIMEOUT_MS, (): ProbeResult => "down");
}

/** Runs every probe in parallel, each bounded by 2 s: a hung dependency reads as down, not as a hung probe. */
export async function checkReady(probes: ReadinessProbes): Promise<Record<string, ProbeResult>> {
  const entries = await Promise.all(Object.entries(probes).map(async ([name, check]) => [name, await probe(check)] as const));
  return Object.fromEntries(entries);
}

/**
 * The operator endpoints every process serves: `/healthz` (the process answers), `/readyz`
 * (200 when every probe is ok, else 503 with the failing ones) and `/metrics` (Prometheus text).
 */
export function addOpsRoutes(router: Router, probes: ReadinessProbes): Router {
  return router
    .add("GET", "/healthz", (_req, res) => sendJson(res, 200, { status: "ok" }))
    .add("GET", "/readyz", async (_req, res) => {
      const checks = await checkReady(probes);
      const ready = Object.values(checks).every((v) => v === "ok");
      sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
    })
    .add("GET", "/metrics", async (_req, res) => {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(body);
    });
}
