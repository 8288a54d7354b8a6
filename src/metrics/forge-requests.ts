import { Counter } from "prom-client";
import { registry } from "./registry.js";

/** Bounded outcomes of one forge API request; `network_error` means no HTTP status came back. */
export type ForgeRequestOutcome = "ok" | "client_error" | "server_error" | "rate_limited" | "network_error";

export const forgeRequests = new Counter({
  name: "forgebot_forge_requests_total",
  help: "Forge API requests, by forge and outcome (ok, client_error, server_error, rate_limited, network_error).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

/**
 * Classifies a response status. GitHub signals its primary rate limit with 403 and
 * `x-ratelimit-remaining: 0` and its secondary limit with 403 + `retry-after`; GitLab uses 429.
 */
export function forgeRequestOutcome(status: number | undefined, headers: Record<string, unknown> = {}): ForgeRequestOutcome {
  if (status === undefined || status === 0) return "network_error";
  if (status === 429) return "rate_limited";
  if (status === 403 && (String(headers["x-ratelimit-remaining"]) === "0" || headers["retry-after"] !== undefined)) return "rate_limited";
  if (status >= 500) return "server_error";
  if (status >= 400) return "client_error";
  return "ok";
}

/** Counts one request; `forge` is the forge name (github, gitlab), never a host. */
export function countForgeRequest(forge: string, outcome: ForgeRequestOutcome): void {
  forgeRequests.inc({ forge, outcome });
}

type HttpErrorLike = { status?: unknown; response?: { headers?: Record<string, unknown> } };

/** The outcome of a request that threw: Octokit's RequestError carries `status` and the response headers. */
export function forgeRequestErrorOutcome(err: unknown): ForgeRequestOutcome {
  const e = (typeof err === "object" && err !== null ? err : {}) as HttpErrorLike;
  const status = typeof e.status === "number" ? e.status : undefined;
  return forgeRequestOutcome(status, e.response?.headers ?? {});
}
