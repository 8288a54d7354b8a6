import { countForgeRequest, forgeRequestOutcome } from "../metrics/index.js";
import { ForgeApiError, type ForgeName } from "../sessions/forge-port.js";

/** A download of a whole repository may take longer than one API call's timeout. */
export const ARCHIVE_TIMEOUT_MS = 10 * 60_000;

/**
 * Fetches a repository archive apart from the forge's API client, streamed, with its own time
 * limit (the API clients bound each call far tighter), counted like any forge request. `what`
 * names the download in errors ("GitHub tarball download").
 */
export async function fetchArchive(forge: ForgeName, what: string, url: string, init: RequestInit & { signal: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.any([init.signal, AbortSignal.timeout(ARCHIVE_TIMEOUT_MS)]) });
  } catch (err: unknown) {
    countForgeRequest(forge, "network_error");
    throw new ForgeApiError(`${what} failed: network error`, undefined, { cause: err });
  }
  countForgeRequest(forge, forgeRequestOutcome(response.status, Object.fromEntries(response.headers.entries())));
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new ForgeApiError(`${what} failed (${response.status})`, response.status);
  }
  return response.body;
}
