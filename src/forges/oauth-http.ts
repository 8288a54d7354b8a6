import type { Logger } from "pino";
import type { ForgeName } from "../sessions/forge-port.js";
import { SignInError } from "../sessions/sign-in-port.js";

/** One sign-in request's time limit: a user waits on the callback page meanwhile. */
export const SIGN_IN_TIMEOUT_MS = 10_000;

export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/**
 * One request of a sign-in exchange, its answer parsed as JSON. A network failure, a timeout, a
 * 5xx or a body that is not JSON is a `forge_error`; 4xx answers are returned for the caller to
 * read (OAuth servers explain refusals in the body).
 */
export async function readJson(what: string, url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(SIGN_IN_TIMEOUT_MS) });
  } catch (err: unknown) {
    throw new SignInError("forge_error", `${what}: no answer`, { cause: err });
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw new SignInError("forge_error", `${what}: status ${res.status}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch (err: unknown) {
    throw new SignInError("forge_error", `${what}: the answer (status ${res.status}) is not JSON`, { cause: err });
  }
}

/**
 * Revokes a user token in the background: sign-in never waits on it, and a failure only logs
 * (the token then lapses on the forge's own schedule).
 */
export function revokeQuietly(log: Logger, forge: ForgeName, url: string, init: RequestInit): void {
  fetch(url, { ...init, signal: AbortSignal.timeout(SIGN_IN_TIMEOUT_MS) })
    .then(async (res) => {
      await res.body?.cancel();
      if (!res.ok) log.info({ forge, status: res.status }, "the forge did not revoke a sign-in token; it expires on its own");
    })
    .catch((err: unknown) => log.info({ forge, err }, "could not revoke a sign-in token; it expires on its own"));
}
