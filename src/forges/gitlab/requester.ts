import {
  createRequesterFn,
  type FormattedResponse,
  type RequesterType,
  type ResourceOptions,
  type ResponseBodyTypes,
} from "@gitbeaker/requester-utils";
import { countForgeRequest, forgeRequestOutcome } from "../../metrics/index.js";
import { ForgeApiError } from "../../sessions/forge-port.js";
import { parseJson } from "../../web/http.js";

/** How reads are retried on 429, 502, 503 and 504. Writes are never retried here (see below). */
export type RetryPolicy = {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Backoff when the answer says nothing about when to come back: base × 2^(attempt − 1). */
  baseDelayMs: number;
  /** Upper bound for any wait, `Retry-After` included. */
  maxDelayMs: number;
};

export type TransportOptions = {
  retry?: Partial<RetryPolicy>;
  /** Bound on each attempt (30 s); a wait for `Retry-After` is not part of it. */
  attemptTimeoutMs?: number;
  /** Tests record waits instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
};

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Reads: safe to repeat, and outside the write budget, so the transport retries them. */
const READ_METHODS = new Set(["GET", "HEAD"]);

/** Milliseconds asked for by `Retry-After` (seconds or an HTTP date) or `RateLimit-Reset` (epoch seconds). */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = headers.get("ratelimit-reset")?.trim();
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now);
  return null;
}

function retryable(method: string, status: number): boolean {
  return READ_METHODS.has(method) && (status === 429 || status === 502 || status === 503 || status === 504);
}

async function parseResponse(response: Response, asStream: boolean): Promise<FormattedResponse> {
  const headers = Object.fromEntries(response.headers.entries());
  if (asStream) return { body: response.body as ReadableStream, headers, status: response.status };
  if (response.status === 204) return { body: null, headers, status: response.status };
  const type = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  let body: ResponseBodyTypes;
  if (type === "application/json") body = ((await response.json()) as ResponseBodyTypes) ?? {};
  else if (type.startsWith("text/")) body = await response.text();
  else body = await response.blob();
  return { body, headers, status: response.status };
}

async function errorFor(method: string, path: string, response: Response): Promise<ForgeApiError> {
  const text = await response.text().catch(() => "");
  let detail = text;
  const parsed = parseJson(text);
  if (parsed.ok && typeof parsed.value === "object" && parsed.value !== null) {
    const { message, error } = parsed.value as { message?: unknown; error?: unknown };
    const said = message ?? error;
    if (said !== undefined) detail = typeof said === "string" ? said : JSON.stringify(said);
  }
  // A 429 tells the caller (the write budget, for writes) how long to pause.
  const retryAfter = response.status === 429 ? (retryAfterMs(response.headers) ?? undefined) : undefined;
  return new ForgeApiError(`GitLab ${method} ${path} failed (${response.status})${detail ? `: ${detail.slice(0, 200)}` : ""}`, response.status, {
    retryAfterMs: retryAfter,
  });
}

/**
 * gitbeaker's transport, replaced: gitbeaker retries 429 within milliseconds and ignores
 * `Retry-After`, and its `rateLimits` option builds one limiter per resource instance and per
 * glob. Here reads that GitLab refused with 429 (or a gateway error) wait as GitLab asks and
 * are tried again; writes are governed by the write budget alone (forges/write-budget.ts), so
 * a write's 429 goes straight back to it with its `Retry-After`. Every attempt is counted in
 * `forgebot_forge_requests_total`, and failures are ForgeApiErrors carrying the HTTP status.
 */
export function createGitLabRequesterFn(options: TransportOptions): (serviceOptions: ResourceOptions) => RequesterType {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 30_000;

  async function handle(endpoint: string, requestOptions?: Record<string, unknown>): Promise<FormattedResponse> {
    const { prefixUrl, searchParams, method: given, asStream, headers, body, signal } = (requestOptions ?? {}) as {
      prefixUrl?: string;
      searchParams?: string;
      method?: string;
      asStream?: boolean;
      headers?: Record<string, string>;
      body?: string | FormData;
      signal?: AbortSignal;
    };
    const method = (given ?? "GET").toUpperCase();
    const base = prefixUrl ? (prefixUrl.endsWith("/") ? prefixUrl : `${prefixUrl}/`) : undefined;
    const url = new URL(endpoint, base);
    url.search = searchParams ?? "";
    const path = url.pathname.replace(/^.*?\/api\/v4\//, "");

    for (let attempt = 1; ; attempt += 1) {
      let response: Response;
      try {
        // Each attempt gets its own deadline; gitbeaker's signal (if any) bounds the whole call.
        const deadline = AbortSignal.timeout(attemptTimeoutMs);
        response = await fetch(url, { method, ...(headers ? { headers } : {}), ...(body !== undefined ? { body } : {}), signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
      } catch (err: unknown) {
        countForgeRequest("gitlab", "network_error");
        // Duck-typed: the DOMException fetch rejects with may come from another realm.
        const name = (err as { name?: unknown } | null)?.name;
        const timedOut = name === "TimeoutError" || name === "AbortError";
        throw new ForgeApiError(`GitLab ${method} ${path} ${timedOut ? "timed out" : "failed: network error"}`, undefined, { cause: err });
      }
      countForgeRequest("gitlab", forgeRequestOutcome(response.status, Object.fromEntries(response.headers.entries())));
      if (response.ok) return parseResponse(response, asStream === true);
      if (attempt >= retry.maxAttempts || !retryable(method, response.status)) throw await errorFor(method, path, response);
      const asked = retryAfterMs(response.headers);
      const backoff = retry.baseDelayMs * 2 ** (attempt - 1);
      // Frees the connection; a body that will not cancel changes nothing about the retry.
      await response.body?.cancel().catch((err: unknown) => err);
      await sleep(Math.min(asked ?? backoff, retry.maxDelayMs));
    }
  }

  return createRequesterFn((_service, prepared) => Promise.resolve(prepared), handle);
}
