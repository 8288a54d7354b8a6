import type { IncomingMessage, ServerResponse } from "node:http";
import { sessionPath, signedSessionId } from "./access.js";
import { advance, hrefFor, summaryFor, type SessionWebContext } from "./context.js";
import { renderSessionPage, sendHtml, sendMessage, type MessagePage } from "./templates.js";
import { timelineItems } from "./timeline.js";
import { changeView, type ChangeView } from "./change-view.js";

export const NOT_FOUND_PAGE: MessagePage = { heading: "Not found", text: "There is no session at this address.", tone: "warn" };

/**
 * `GET /sessions/:id?sig=…`: the whole page, server-rendered, readable without JavaScript. The
 * stream URL carries the cursor the page was drawn at, so live updates start exactly after it.
 */
export async function handleSessionPage(ctx: SessionWebContext, _req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const view = id === null ? null : await ctx.views.findSessionView(id);
  if (id === null || !view) return sendMessage(res, 404, NOT_FOUND_PAGE);
  const summary = await summaryFor(ctx, view);
  const cursor = advance({ eventId: 0, seq: 0 }, view);
  const streamUrl = `${sessionPath(ctx.linkSecret, id, "/events")}&after=${cursor.eventId}.${cursor.seq}`;
  sendHtml(res, 200, renderSessionPage({ summary, items: timelineItems(view, hrefFor(ctx)), streamUrl, change: await changeFor(ctx, id) }));
}

/** The change section of a change session (null for sessions that never made a workspace). */
async function changeFor(ctx: SessionWebContext, id: number): Promise<ChangeView | null> {
  if (!ctx.changes) return null;
  const [patch, commands, snapshot] = await Promise.all([ctx.changes.findPatch(id), ctx.changes.listCommands(id), ctx.changes.findSnapshot(id)]);
  return changeView({ patch, commands, snapshot, downloadHref: sessionPath(ctx.linkSecret, id, "/patch") });
}
