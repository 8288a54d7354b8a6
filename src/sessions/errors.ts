import { ForgeApiError } from "./forge-port.js";
import type { ErrorReason } from "./notes.js";
import type { Session } from "./session.js";
import { InvalidTransitionError } from "./state-machine.js";

export { InvalidTransitionError };

/**
 * The domain's typed errors, and the one place that decides what a failed job does next:
 * retry with backoff, give up, come back shortly, or hand the run to another worker.
 */

/** A failure with a fixed user-facing text (see notes.ts); `detail` goes to logs and the page only. */
export class FlowError extends Error {
  override name = "FlowError";
  constructor(
    readonly reason: ErrorReason,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    super(detail ?? reason, options);
  }
}

/** `getSession` / `getMention` for a row that does not exist. */
export class SessionNotFoundError extends Error {
  override name = "SessionNotFoundError";
}

/** `getMention` for a delivery that does not exist or holds no mention. */
export class DeliveryNotFoundError extends Error {
  override name = "DeliveryNotFoundError";
}

/** Another worker holds the session's note lock: it is writing this session's notes right now. */
export class SessionBusyError extends Error {
  override name = "SessionBusyError";
}

/** Raised when a run is interrupted by shutdown: the job fails and is retried, the session lives on. */
export class RunInterruptedError extends Error {
  override name = "RunInterruptedError";
}

/** A retry's child exists but starting it (started note, queued run) failed; `session` is the child. */
export class RetryStartError extends Error {
  override name = "RetryStartError";
  constructor(
    readonly session: Session,
    options?: { cause?: unknown },
  ) {
    super(`retry session ${session.id} could not be started`, options);
  }
}

/** A forge neither the environment nor the setup page has configured (yet): its jobs retry with backoff. */
export class ForgeNotConfiguredError extends Error {
  override name = "ForgeNotConfiguredError";
}

/**
 * What a failed job does next:
 * - `permanent`: retrying cannot help (the row is gone, the event is not allowed, the forge
 *   refused the request as such) — the job fails at once;
 * - `busy`: another worker holds the session — come back shortly without spending an attempt;
 * - `interrupted`: the worker is shutting down — another worker resumes from the checkpoint;
 * - `transient`: anything else (network, 5xx, a database restart) — retry with backoff.
 */
export type JobErrorKind = "permanent" | "busy" | "interrupted" | "transient";

/** Forge answers that mean the request itself is wrong or its target gone. */
const PERMANENT_FORGE_STATUSES = new Set([400, 404, 410, 422]);

export function jobErrorKind(err: unknown): JobErrorKind {
  if (err instanceof SessionBusyError) return "busy";
  if (err instanceof RunInterruptedError) return "interrupted";
  if (err instanceof SessionNotFoundError || err instanceof DeliveryNotFoundError || err instanceof InvalidTransitionError) return "permanent";
  if (err instanceof ForgeApiError && err.status !== undefined && PERMANENT_FORGE_STATUSES.has(err.status)) return "permanent";
  return "transient";
}
