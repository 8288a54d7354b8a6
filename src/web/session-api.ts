import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "./http.js";
import { isTerminal } from "../sessions/state-machine.js";
import { sessionPath, signedSessionId } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { errorView } from "./session-view.js";
import { reviewJson } from "./review-view.js";

/**
 * `GET /api/sessions/:id?sig=…`: the page's data as JSON (same signature rule, 404 otherwise).
 * Links are absolute (PUBLIC_URL) and signed; the retry form's token is not included.
 */
export async function handleSessionJson(ctx: SessionWebContext, _req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const view = id === null ? null : await ctx.views.findSessionView(id);
  if (id === null || !view) return sendJson(res, 404, { error: "not found" });
  const { session } = view;
  const link = (sessionId: number, suffix = "") => `${ctx.publicUrl}${sessionPath(ctx.linkSecret, sessionId, suffix)}`;
  const terminal = isTerminal(session.status);
  const retryAllowed = terminal && (await ctx.lifecycle.retryPolicy.retryAllowed({ forge: session.forge, login: session.actor.login, repoPath: session.repoPath }));
  const durationMs = session.finishedAt ? session.finishedAt.getTime() - session.createdAt.getTime() : (session.usage.durationMs ?? null);
  res.setHeader("cache-control", "no-store");
  sendJson(res, 200, {
    id: session.id,
    status: session.status,
    terminal,
    forge: session.forge,
    host: session.host,
    repository: session.repoPath,
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
    retryAllowed,
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
