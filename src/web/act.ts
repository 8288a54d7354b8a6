import type { IncomingMessage, ServerResponse } from "node:http";
import { permissionRefusals } from "../metrics/index.js";
import type { Session } from "../sessions/session.js";
import { BodyTooLargeError, readForm } from "./http.js";
import { isSameOrigin, sessionPath, signedSessionId } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { PermissionCheckError } from "./permissions.js";
import { NOT_FOUND_PAGE } from "./session-page.js";
import { sendMessage } from "./templates.js";
import { isViewerOf, signInHref } from "./viewing.js";
import { dropStaleCookie, findViewer, verifyFormToken, type Viewer } from "./web-session.js";

/**
 * The checks every button POST of a session page passes before anything is created or changed:
 * the signed link, a same-origin request, a form of ours, a signed-in user of the session's
 * forge, the form's token bound to that user's web session, and — asked afresh of the forge —
 * the same right a mention needs. Each refusal is a page saying why, with the right status,
 * and is counted in `forgebot_permission_refusals_total`.
 */

/** The form holds one token; anything bigger is not our form. */
const MAX_FORM_BYTES = 4096;

export type ActionVerb = "retry" | "stop";

/** Why a button POST was refused before it reached the lifecycle. */
export type ActionRefusal = "anonymous" | "not_writer" | "csrf" | "off" | "unavailable";

export type ActionAllowed = { session: Session; viewer: Viewer; back: { href: string; text: string } };

/**
 * Runs the checks for `verb` on `:id`. Sends the refusal (and calls `onRefused`) and returns
 * null when one fails; returns the session and its signed-in viewer otherwise.
 */
export async function guardAction(
  ctx: SessionWebContext,
  req: IncomingMessage,
  res: ServerResponse,
  input: { rawId: string | undefined; url: URL; verb: ActionVerb; onRefused?: (reason: ActionRefusal) => void },
): Promise<ActionAllowed | null> {
  const { verb } = input;
  const id = signedSessionId(ctx.linkSecret, input.rawId, input.url);
  const session = id === null ? null : await ctx.lifecycle.sessions.findSession(id);
  if (id === null || !session) {
    req.resume();
    sendMessage(res, 404, NOT_FOUND_PAGE);
    return null;
  }
  const forge = ctx.profileFor(session.forge).displayName;
  const here = sessionPath(ctx.linkSecret, session.id);
  const back = { href: here, text: `Back to session ${session.id}` };
  const heading = verb === "retry" ? "Retry refused" : "Stop refused";
  const refuse = (status: number, reason: ActionRefusal, text: string, link: { href: string; text: string } = back) => {
    if (reason !== "off" && reason !== "unavailable") permissionRefusals.inc({ forge: session.forge, reason });
    input.onRefused?.(reason);
    sendMessage(res, status, { heading, text, tone: "warn", link });
    return null;
  };

  if (!isSameOrigin(req, ctx.publicUrl)) {
    req.resume();
    return refuse(403, "csrf", `This ${verb} did not come from the session's page.`);
  }
  let form: URLSearchParams | null;
  try {
    form = await readForm(req, MAX_FORM_BYTES);
  } catch (err: unknown) {
    if (err instanceof BodyTooLargeError) return refuse(413, "csrf", `The ${verb} form was too large.`);
    throw err;
  }
  if (!form) return refuse(403, "csrf", `The ${verb} form is not valid. Reload the session page and try again.`);

  if (!ctx.signIns[session.forge]) {
    const handle = ctx.lifecycle.forges.handleFor(session.forge);
    return refuse(403, "off", `Sign-in with ${forge} is not set up here, so the page cannot act for you: write @${handle} ${verb} in the thread instead.`);
  }
  const lookup = await findViewer(ctx.webSessions, req);
  dropStaleCookie(ctx.webSessions, res, lookup);
  const { viewer } = lookup;
  if (!isViewerOf(viewer, session)) {
    const why = lookup.stale ? "Your sign-in has expired." : lookup.viewer ? `You are signed in with ${ctx.profileFor(lookup.viewer.user.forge).displayName}, not ${forge}.` : "You are not signed in.";
    return refuse(401, "anonymous", `${why} Sign in with ${forge} to ${verb} this session.`, { href: signInHref(session.forge, here), text: `Sign in with ${forge}` });
  }
  if (!verifyFormToken(ctx.webSessions, viewer, `${verb}:${session.id}`, form.get("token"))) {
    return refuse(403, "csrf", `The ${verb} form is not valid for your sign-in. Reload the session page and try again.`);
  }
  let write: boolean;
  try {
    write = (await ctx.permissions.accessOf(viewer.user, session, { fresh: true })).write;
  } catch (err: unknown) {
    if (!(err instanceof PermissionCheckError)) throw err;
    ctx.log.warn({ err, sessionId: session.id, forge: session.forge }, "permission check failed");
    return refuse(503, "unavailable", `${forge} did not answer whether you may ${verb} this session. Try again in a moment.`);
  }
  if (!write) {
    const who = ctx.profileFor(session.forge).writersDescription;
    return refuse(403, "not_writer", `Only ${who} can ${verb} sessions of this repository, and ${forge} does not count @${viewer.user.login} among them.`);
  }
  return { session, viewer, back };
}
