import { APICallError, EmptyResponseBodyError, InvalidResponseDataError, JSONParseError, NoContentGeneratedError, RetryError, TypeValidationError } from "ai";
import type { ErrorReason } from "../../sessions/notes.js";

/** Bounded outcome label for `forgebot_model_requests_total`. */
export type ModelCallOutcome = "ok" | "rate_limited" | "auth_error" | "server_error" | "network_error" | "timeout" | "bad_response" | "client_error" | "aborted" | "error";

export type ModelFailure = {
  reason: ErrorReason;
  outcome: ModelCallOutcome;
  /** Another provider may succeed where this one failed. */
  fallback: boolean;
  status?: number | undefined;
  detail: string;
};

function unwrap(err: unknown): unknown {
  return RetryError.isInstance(err) ? (err.lastError ?? err) : err;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Maps a failed model call to the fixed error reason users see. `timedOut` is true when our own
 * per-call timer fired (the SDK then rejects with the abort reason).
 */
export function classifyModelError(err: unknown, timedOut: boolean): ModelFailure {
  const cause = unwrap(err);
  const detail = message(cause).slice(0, 500);
  if (timedOut) return { reason: "timeout", outcome: "timeout", fallback: true, detail: "model call timed out" };
  if (APICallError.isInstance(cause)) {
    const status = cause.statusCode;
    if (status === undefined) return { reason: "model_unavailable", outcome: "network_error", fallback: true, detail };
    if (status === 429) return { reason: "rate_limited", outcome: "rate_limited", fallback: true, status, detail };
    if (status === 401 || status === 403) return { reason: "model_unavailable", outcome: "auth_error", fallback: true, status, detail };
    if (status === 404) return { reason: "model_unavailable", outcome: "client_error", fallback: true, status, detail };
    if (status === 408 || status === 504) return { reason: "timeout", outcome: "timeout", fallback: true, status, detail };
    if (status >= 500) return { reason: "model_unavailable", outcome: "server_error", fallback: true, status, detail };
    return { reason: "internal", outcome: "client_error", fallback: false, status, detail };
  }
  if (
    NoContentGeneratedError.isInstance(cause) ||
    EmptyResponseBodyError.isInstance(cause) ||
    InvalidResponseDataError.isInstance(cause) ||
    JSONParseError.isInstance(cause) ||
    TypeValidationError.isInstance(cause)
  ) {
    return { reason: "no_response", outcome: "bad_response", fallback: true, detail };
  }
  return { reason: "internal", outcome: "error", fallback: false, detail };
}
