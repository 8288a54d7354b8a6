import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "./http.js";
import { isTerminal } from "../sessions/state-machine.js";
import { sessionVisibility, type Session } from "../sessions/session.js";
import { sessionPath, signedSessionId } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { sessionActions } from "./session-actions.js";
import { errorView } from "./session-view.js";
import { decideView, signInHref, type ViewDecision } from "./viewing.js";
import { dropStaleCookie } from "./web-session.js";
import { reviewJson } from "./review-view.js";

/**
 * The JSON (and SSE) answer to a request that may not see the session: no content. 401 with
 * where to sign in; 403 when signed in without read access, or, where sign-in is not set up
 * for the session's forge, with the status alone; 503 when the forge did not answer.
 */
export function refusalJson(ctx: SessionWebContext, session: Session, decision: ViewDecision): { status: number; body: Record<string, unknown> } {
  switch (decision.kind) {
    case "sign_in":
      return { status: 401, body: { error: "sign in to see this session", signIn: `${ctx.publicUrl}${signInHref(session.forge, sessionPath(ctx.linkSecret, session.id))}` } };
    case "denied":
      return { status: 403, body: { error: "you may not read this session's repository" } };
    case "unavailable":
      return { status: 503, body: { error: "the forge did not answer a permission check" } };
    default:
      return { status: 403, body: { error: "sign-in is not set up for this forge; only the status is shown", id: session.id, status: session.status } };
  }
}

/**
 * `GET /api/sessions/:id?sig=…`: the page's data as JSON (same signature rule, 404 otherwise;
 * same viewing rule, see viewing.ts). Links are absolute (PUBLIC_URL) and signed; the forms'
 * tokens are not included. `retryAllowed` / `stopAllowed` say what this viewer may do.
 */
export async function handleSessionJson(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const view = id === null ? null : await ctx.views.findSessionView(id);
  if (id === null || !view) return sendJson(res, 404, { error: "not found" });
  const { session } = view;
  const decision = await decideView(ctx, req, session);
  dropStaleCookie(ctx.webSessions, res, decision.viewing);
  res.setHeader("cache-control", "no-store");
  if (decision.kind !== "show") {
    const refusal = refusalJson(ctx, session, decision);
    return sendJson(res, refusal.status, refusal.body);
  }
  const link = (sessionId: number, suffix = "") => `${ctx.publicUrl}${sessionPath(ctx.linkSecret, sessionId, suffix)}`;
  const terminal = isTerminal(session.status);
  const actions = await sessionActions(ctx, session, decision.viewing);
  const durationMs = session.finishedAt ? session.finishedAt.getTime() - session.createdAt.getTime() : (session.usage.durationMs ?? null);
  sendJson(res, 200, {
    id: session.id,
    status: session.status,
    terminal,
    forge: session.forge,
    host: session.host,
    repository: session.repoPath,
    visibility: sessionVisibility(session),
    thread: {
      kind: session.threadKind,
      number: session.threadNumber,
      title: session.callbackContext.title,
      url: session.callbackContext.threadUrl ?? null,
    },
    actor: session.actor,
    command: session.command,
    flow: session.flow,
    prompt: session.prompt,
    origin: session.origin,
    parentSessionId: session.parentSessionId,
    model: session.selectedModelMetadata ?? view.firstStepModel,
    usage: session.usage,
    steps: view.steps,
    durationMs,
    result: session.result,
    error: errorView(session, view.errorDetail),
    createdAt: session.createdAt,
    updatedAt: session.updatedAt,
    finishedAt: session.finishedAt,
    retryAllowed: actions.retry !== null,
    stopAllowed: actions.stop !== null,
    retries: view.retries.map((r) => ({ ...r, url: link(r.id) })),
    review: view.review ? reviewJson(view.review) : null,
    links: {
      page: link(session.id),
      api: `${ctx.publicUrl}/api${sessionPath(ctx.linkSecret, session.id)}`,
      events: link(session.id, "/events"),
      parent: session.parentSessionId ? link(session.parentSessionId) : null,
    },
    events: view.events,
    checkpoints: view.checkpoints,
  });
}
