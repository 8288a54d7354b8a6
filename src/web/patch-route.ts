import type { IncomingMessage, ServerResponse } from "node:http";
import { signedSessionId } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { NOT_FOUND_PAGE, refusalPage } from "./session-page.js";
import { sendMessage } from "./templates.js";
import { decideView } from "./viewing.js";
import { dropStaleCookie } from "./web-session.js";

/**
 * `GET /sessions/:id/patch?sig=…`: a change session's patch as a file for `git apply`. The
 * page's rules: without a valid `sig`, or without a patch, a 404; a private or internal
 * repository's patch only for those who may see the session (viewing.ts) — the code of the
 * repository is in it.
 */
export async function handlePatchDownload(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const session = id === null ? null : await ctx.lifecycle.sessions.findSession(id);
  if (id === null || !session) return sendMessage(res, 404, NOT_FOUND_PAGE);
  const decision = await decideView(ctx, req, session);
  dropStaleCookie(ctx.webSessions, res, decision.viewing);
  if (decision.kind !== "show") {
    const { status, page } = refusalPage(ctx, session, decision);
    // Where only the status may be shown, the patch is not.
    return sendMessage(res, status === 200 ? 403 : status, page);
  }
  const patch = await ctx.changes?.findPatch(id);
  if (!patch) return sendMessage(res, 404, NOT_FOUND_PAGE);
  const body = Buffer.from(patch.diff, "utf8");
  res.writeHead(200, {
    "content-type": "text/x-diff; charset=utf-8",
    "content-length": String(body.length),
    "content-disposition": `attachment; filename="forgebot-session-${id}.patch"`,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}
