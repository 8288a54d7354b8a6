import type { IncomingMessage, ServerResponse } from "node:http";
import { humanize } from "./format.js";
import { sessionPath, signedSessionId } from "./access.js";
import { accountBar } from "./account.js";
import { advance, hrefFor, summaryFor, type SessionWebContext } from "./context.js";
import { renderSessionPage, sendHtml, sendMessage, type MessagePage } from "./templates.js";
import { timelineItems } from "./timeline.js";
import { decideView, signInHref, type ViewDecision } from "./viewing.js";
import { dropStaleCookie } from "./web-session.js";
import { sessionVisibility, type Session } from "../sessions/session.js";
import { changeView, type ChangeView } from "./change-view.js";

export const NOT_FOUND_PAGE: MessagePage = { heading: "Not found", text: "There is no session at this address.", tone: "warn" };

/** "private repository", "internal repository": what the refusal pages call the session's home. */
function homeOf(session: Session): string {
  return `${sessionVisibility(session)} repository`;
}

/**
 * The page for a request that may not see the session: nothing of it (not even its status),
 * except where sign-in is not set up for its forge — then its status alone.
 */
export function refusalPage(ctx: SessionWebContext, session: Session, decision: ViewDecision): { status: number; page: MessagePage } {
  const forge = ctx.profileFor(session.forge).displayName;
  const here = sessionPath(ctx.linkSecret, session.id);
  const account = accountBar(ctx, decision.viewing.viewer, here);
  const home = homeOf(session);
  switch (decision.kind) {
    case "sign_in":
      return {
        status: 401,
        page: {
          heading: `Sign in to see session ${session.id}`,
          text: `${decision.viewing.stale ? "Your sign-in has expired. " : ""}This session belongs to a ${home}. Sign in with ${forge}: if you can read it there, you will see the session here.`,
          tone: "info",
          link: { href: signInHref(session.forge, here), text: `Sign in with ${forge}` },
          account,
        },
      };
    case "denied":
      return {
        status: 403,
        page: {
          heading: `You cannot see session ${session.id}`,
          text: `This session belongs to a ${home} that ${forge} does not let @${decision.viewing.viewer?.user.login ?? "you"} read.`,
          tone: "warn",
          account,
        },
      };
    case "unavailable":
      return {
        status: 503,
        page: { heading: `Session ${session.id}`, text: `${forge} did not answer whether you may read this session. Try again in a moment.`, tone: "error", account },
      };
    default:
      return {
        status: 200,
        page: {
          heading: `Session ${session.id}: ${humanize(session.status)}`,
          text: `This session belongs to a ${home}, and sign-in with ${forge} is not set up here, so only its status is shown.`,
          tone: "info",
          account,
        },
      };
  }
}

/**
 * `GET /sessions/:id?sig=…`: the whole page, server-rendered, readable without JavaScript, for
 * whoever may see it (viewing.ts). The stream URL carries the cursor the page was drawn at, so
 * live updates start exactly after it.
 */
export async function handleSessionPage(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const id = signedSessionId(ctx.linkSecret, rawId, url);
  const view = id === null ? null : await ctx.views.findSessionView(id);
  if (id === null || !view) return sendMessage(res, 404, NOT_FOUND_PAGE);
  const decision = await decideView(ctx, req, view.session);
  dropStaleCookie(ctx.webSessions, res, decision.viewing);
  if (decision.kind !== "show") {
    const { status, page } = refusalPage(ctx, view.session, decision);
    return sendMessage(res, status, page);
  }
  const summary = await summaryFor(ctx, view, decision.viewing);
  const cursor = advance({ eventId: 0, seq: 0 }, view);
  const streamUrl = `${sessionPath(ctx.linkSecret, id, "/events")}&after=${cursor.eventId}.${cursor.seq}`;
  const account = accountBar(ctx, decision.viewing.viewer, sessionPath(ctx.linkSecret, id));
  sendHtml(res, 200, renderSessionPage({ summary, items: timelineItems(view, hrefFor(ctx)), streamUrl, account, change: await changeFor(ctx, id) }));
}

/** The change section of a change session (null for sessions that never made a workspace). */
async function changeFor(ctx: SessionWebContext, id: number): Promise<ChangeView | null> {
  if (!ctx.changes) return null;
  const [patch, commands, snapshot] = await Promise.all([ctx.changes.findPatch(id), ctx.changes.listCommands(id), ctx.changes.findSnapshot(id)]);
  return changeView({ patch, commands, snapshot, downloadHref: sessionPath(ctx.linkSecret, id, "/patch") });
}
