import type { Logger } from "../logging/logger.js";
import type { ForgeName, ForgeProfile } from "../sessions/forge-port.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import type { SessionSummary, SessionViews, Timeline, TimelineCursor } from "../storage/session-views.js";
import { sessionPath } from "./access.js";
import type { Permissions } from "./permissions.js";
import { sessionActions } from "./session-actions.js";
import type { Viewing } from "./viewing.js";
import type { WorkspaceStore } from "../workspace/store.js";
import { summaryView, type SummaryView } from "./session-view.js";
import type { SessionHref } from "./timeline.js";
import type { WebSessionSettings } from "./web-session.js";

/** What the session pages need from the composition root. */
export type SessionWebContext = {
  views: SessionViews;
  /** Change sessions' patches, commands and snapshots (the change section and the patch download). */
  changes?: Pick<WorkspaceStore, "findPatch" | "listCommands" | "findSnapshot">;
  /** The lifecycle's ports: the session store, forges, queue and retry policy (for retry). */
  lifecycle: LifecycleDeps;
  /** Signs session links (`SESSION_LINK_SECRET`) and the forms' tokens. */
  linkSecret: string;
  publicUrl: string;
  adminToken: string | null;
  /** The forges' words (forges/registry.ts), for thread labels and forge names. */
  profileFor(name: ForgeName): ForgeProfile;
  log: Logger;
  /** Sign-in per forge; a forge missing here has none (its private pages show status only). */
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  /** The web sessions (cookie, store, form tokens). */
  webSessions: WebSessionSettings;
  permissions: Permissions;
  /** `forge:login` of operators who may open the session list once signed in (ADMIN_USERS). */
  adminUsers: readonly string[];
};

export function hrefFor(ctx: SessionWebContext): SessionHref {
  return (id) => sessionPath(ctx.linkSecret, id);
}

/** Builds the summary view with the actions the viewer may take (session-actions.ts). */
export async function summaryFor(ctx: SessionWebContext, summary: SessionSummary, viewing: Viewing): Promise<SummaryView> {
  const actions = await sessionActions(ctx, summary.session, viewing);
  return summaryView(summary, {
    sessionHref: hrefFor(ctx),
    retryForm: actions.retry,
    stopForm: actions.stop,
    actionNote: actions.note,
    profile: ctx.profileFor(summary.session.forge),
  });
}

/** The cursor just past the given timeline rows (or `from` when there are none). */
export function advance(from: TimelineCursor, timeline: Timeline): TimelineCursor {
  return {
    eventId: Math.max(from.eventId, ...timeline.events.map((e) => e.id)),
    seq: Math.max(from.seq, ...timeline.checkpoints.map((c) => c.seq)),
  };
}
