import type { IncomingMessage, ServerResponse } from "node:http";
import { signedSessionId } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { NOT_FOUND_PAGE } from "./session-page.js";
import { sendMessage } from "./templates.js";

/**
 * `GET /sessions/:id/patch?sig=…`: a change session's patch as a file for `git apply`. The
 * page's signature rule: without a valid `sig`, or without a patch, a 404.
 */
export async function handlePatchDownload(ctx: SessionWebContext, _req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const patch = id === null ? null : await ctx.changes?.findPatch(id);
  if (id === null || !patch) return sendMessage(res, 404, NOT_FOUND_PAGE);
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
