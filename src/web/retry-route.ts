import type { IncomingMessage, ServerResponse } from "node:http";
import { permissionRefusals, retries, trackedErrors } from "../metrics/index.js";
import { retryFromButton } from "../lifecycle/retry.js";
import { RetryStartError } from "../sessions/errors.js";
import { sessionPath } from "./access.js";
import { guardAction } from "./act.js";
import type { SessionWebContext } from "./context.js";
import { sendMessage } from "./templates.js";

/**
 * A retry created but still not picked up this long after its last change is treated as a start
 * that failed (say the forge was down), and the next click starts it again.
 */
export const STALLED_START_MS = 30_000;

/**
 * `POST /sessions/:id/retry?sig=…` from the page's Retry button, by a signed-in user who may
 * write and has `manual_retry` on (act.ts checks all but the flag, the retry service that).
 * The new session is theirs. Refuses sessions that have not ended; double-fires reach the retry
 * already being made (one started note). Answers 303 to the new session's page.
 */
export async function handleRetryPost(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const allowed = await guardAction(ctx, req, res, {
    rawId,
    url,
    verb: "retry",
    onRefused: (reason) => retries.inc({ origin: "button", outcome: reason === "csrf" || reason === "unavailable" ? "refused" : "not_allowed" }),
  });
  if (!allowed) return;
  const { session: parent, viewer, back } = allowed;
  const log = ctx.log.child({ sessionId: parent.id, forge: parent.forge, repo: parent.repoPath });
  let outcome;
  try {
    outcome = await retryFromButton(ctx.lifecycle, parent, { id: viewer.user.id, login: viewer.user.login }, {
      restartExisting: (child) => ctx.views.claimStalledStart(child.id, STALLED_START_MS),
    });
  } catch (err: unknown) {
    if (!(err instanceof RetryStartError)) throw err;
    trackedErrors.inc({ phase: "retry" });
    log.error({ err, retrySessionId: err.session.id }, "retry could not be started");
    const child = err.session.id;
    return sendMessage(res, 502, {
      heading: "Retry not fully started",
      text: `Session ${child} was created, but the forge did not answer while it was being started, so its started note may be missing. Open it to follow it; if it stays Created, press Retry on session ${parent.id} again in a minute.`,
      tone: "error",
      link: { href: sessionPath(ctx.linkSecret, child), text: `Session ${child}` },
    });
  }
  if (outcome.kind === "refused") {
    if (outcome.reason === "not_allowed") permissionRefusals.inc({ forge: parent.forge, reason: "flag_off" });
    return sendMessage(res, outcome.reason === "not_allowed" ? 403 : 409, { heading: "Retry refused", text: outcome.message, tone: "warn", link: back });
  }
  res.writeHead(303, { location: sessionPath(ctx.linkSecret, outcome.session.id), "cache-control": "no-store" });
  res.end();
}
