import { ForgeApiError, type ThreadRef } from "../../sessions/forge-port.js";

/** `owner` and `repo` of a thread's repository path. */
export function repoParts(thread: ThreadRef): { owner: string; repo: string } {
  const [owner, ...rest] = thread.repoPath.split("/");
  return { owner: owner ?? "", repo: rest.join("/") };
}

type ErrorShape = { status?: unknown; message?: unknown; response?: { headers?: Record<string, string | undefined> } };

/**
 * How long GitHub asked us to wait: `retry-after` (seconds), else a primary limit's
 * `x-ratelimit-reset` once `x-ratelimit-remaining` hit 0, else a minute for a secondary limit.
 */
export function githubRetryAfterMs(err: ErrorShape, now = Date.now()): number | undefined {
  const headers = err.response?.headers ?? {};
  const retryAfter = Number(headers["retry-after"]);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return retryAfter * 1000;
  if (headers["x-ratelimit-remaining"] === "0" && headers["x-ratelimit-reset"]) {
    return Math.max(1000, Number(headers["x-ratelimit-reset"]) * 1000 - now);
  }
  if (err.status === 429 || (err.status === 403 && /secondary rate limit/i.test(String(err.message ?? "")))) return 60_000;
  return undefined;
}

/** Wraps Octokit's RequestError (or a network error) into a ForgeApiError carrying the status. */
export async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err: unknown) {
    const shape = err as ErrorShape;
    const status = typeof shape.status === "number" ? shape.status : undefined;
    const retryAfterMs = status === 429 || status === 403 ? githubRetryAfterMs(shape) : undefined;
    throw new ForgeApiError(`GitHub ${what} failed${status ? ` (${status})` : ""}`, status, { cause: err, retryAfterMs });
  }
}
