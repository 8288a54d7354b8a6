import type { Logger } from "../logging/logger.js";
import type { ForgeName, ForgeProfile } from "../sessions/forge-port.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import { isTerminal } from "../sessions/state-machine.js";
import type { SessionSummary, SessionViews, Timeline, TimelineCursor } from "../storage/session-views.js";
import type { WorkspaceStore } from "../workspace/store.js";
import { retryToken, sessionPath } from "./access.js";
import { summaryView, type SummaryView } from "./session-view.js";
import type { SessionHref } from "./timeline.js";

/** What the session pages need from the composition root. */
export type SessionWebContext = {
  views: SessionViews;
  /** Change sessions' patches, commands and snapshots (the change section and the patch download). */
  changes?: Pick<WorkspaceStore, "findPatch" | "listCommands" | "findSnapshot">;
  /** The lifecycle's ports: the session store, forges, queue and retry policy (for retry). */
  lifecycle: LifecycleDeps;
  /** Signs session links (`SESSION_LINK_SECRET`) and the retry form's token. */
  linkSecret: string;
  publicUrl: string;
  adminToken: string | null;
  /** The forges' words (forges/registry.ts), for thread labels and forge names. */
  profileFor(name: ForgeName): ForgeProfile;
  log: Logger;
};

export function hrefFor(ctx: SessionWebContext): SessionHref {
  return (id) => sessionPath(ctx.linkSecret, id);
}

/** Builds the summary view; asks the retry policy only about sessions that have ended. */
export async function summaryFor(ctx: SessionWebContext, summary: SessionSummary): Promise<SummaryView> {
  const { session } = summary;
  const allowed = isTerminal(session.status) && (await ctx.lifecycle.retryPolicy.retryAllowed({ forge: session.forge, login: session.actor.login, repoPath: session.repoPath }));
  const retryForm = allowed ? { action: sessionPath(ctx.linkSecret, session.id, "/retry"), token: retryToken(ctx.linkSecret, session.id) } : null;
  return summaryView(summary, { sessionHref: hrefFor(ctx), retryForm, profile: ctx.profileFor(session.forge) });
}

/** The cursor just past the given timeline rows (or `from` when there are none). */
export function advance(from: TimelineCursor, timeline: Timeline): TimelineCursor {
  return {
    eventId: Math.max(from.eventId, ...timeline.events.map((e) => e.id)),
    seq: Math.max(from.seq, ...timeline.checkpoints.map((c) => c.seq)),
  };
}
