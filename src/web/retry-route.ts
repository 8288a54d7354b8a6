import type { IncomingMessage, ServerResponse } from "node:http";
import { BodyTooLargeError, header, readBody } from "./http.js";
import { trackedErrors } from "../metrics/index.js";
import { buttonTrigger, retrySession } from "../lifecycle/retry.js";
import { RetryStartError } from "../sessions/errors.js";
import { isSameOrigin, sessionPath, signedSessionId, verifyRetryToken } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { NOT_FOUND_PAGE } from "./session-page.js";
import { sendMessage } from "./templates.js";

/** The form holds one token; anything bigger is not our form. */
const MAX_FORM_BYTES = 4096;
/**
 * A retry created but still not picked up this long after its last change is treated as a start
 * that failed (say the forge was down), and the next click starts it again.
 */
export const STALLED_START_MS = 30_000;

async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  const type = (header(req, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return null;
  return new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString("utf8"));
}

/**
 * `POST /sessions/:id/retry?sig=…` from the page's Retry button. Needs the signed link, a
 * same-origin request and the form's token (CSRF). Goes through the retry service, which
 * refuses sessions that have not ended; duplicate POSTs reach the same child (its trigger key is
 * `retry-of-<id>`), which has one started note. Answers 303 to the new session's page.
 */
export async function handleRetryPost(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  if (id === null) return sendMessage(res, 404, NOT_FOUND_PAGE);
  const back = { href: sessionPath(ctx.linkSecret, id), text: `Back to session ${id}` };
  const refuse = (status: number, text: string) => sendMessage(res, status, { heading: "Retry refused", text, tone: "warn", link: back });

  if (!isSameOrigin(req, ctx.publicUrl)) return refuse(403, "This retry did not come from the session's page.");
  let form: URLSearchParams | null;
  try {
    form = await readForm(req);
  } catch (err: unknown) {
    if (err instanceof BodyTooLargeError) return refuse(413, "The retry form was too large.");
    throw err;
  }
  if (!form || !verifyRetryToken(ctx.linkSecret, id, form.get("token"))) {
    return refuse(403, "The retry form is not valid. Reload the session page and try again.");
  }
  const parent = await ctx.lifecycle.sessions.findSession(id);
  if (!parent) return sendMessage(res, 404, NOT_FOUND_PAGE);

  const log = ctx.log.child({ sessionId: id, forge: parent.forge, repo: parent.repoPath });
  let outcome;
  try {
    outcome = await retrySession(ctx.lifecycle, parent, buttonTrigger(parent), {
      restartExisting: (child) => ctx.views.claimStalledStart(child.id, STALLED_START_MS),
    });
  } catch (err: unknown) {
    if (!(err instanceof RetryStartError)) throw err;
    trackedErrors.inc({ phase: "retry" });
    log.error({ err, retrySessionId: err.session.id }, "retry could not be started");
    const child = err.session.id;
    return sendMessage(res, 502, {
      heading: "Retry not fully started",
      text: `Session ${child} was created, but the forge did not answer while it was being started, so its started note may be missing. Open it to follow it; if it stays Created, press Retry on session ${id} again in a minute.`,
      tone: "error",
      link: { href: sessionPath(ctx.linkSecret, child), text: `Session ${child}` },
    });
  }
  if (outcome.kind === "refused") return refuse(outcome.reason === "not_allowed" ? 403 : 409, outcome.message);
  res.writeHead(303, { location: sessionPath(ctx.linkSecret, outcome.session.id), "cache-control": "no-store" });
  res.end();
}
