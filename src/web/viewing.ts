import type { IncomingMessage } from "node:http";
import { permissionRefusals } from "../metrics/index.js";
import type { ForgeName, RepoAccess } from "../sessions/forge-port.js";
import { sessionVisibility, type Session } from "../sessions/session.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import { isOperator } from "./access.js";
import { PermissionCheckError, type Permissions } from "./permissions.js";
import { findViewer, type Viewer, type WebSessionSettings } from "./web-session.js";

/**
 * Who may see a session (its page, JSON and live stream), beyond holding its signed link:
 * - public repository: anyone with the link;
 * - internal or private: a signed-in user the forge says may read the repository (GitHub:
 *   permission read or more; GitLab: a member for private, any user of that GitLab for
 *   internal, but an external user only as a member), or an operator (ADMIN_TOKEN, ADMIN_USERS);
 * - otherwise nothing of the session: a sign-in page, or, where sign-in is not set up for the
 *   session's forge, its status alone.
 */

/** The request's viewer and what they may do with the session's repository. */
export type Viewing = {
  viewer: Viewer | null;
  /** The request carried a session cookie that signs nobody in any more: clear it. */
  stale: boolean;
  /** The viewer's access to the repository; null without a viewer of the session's forge and host. */
  access: RepoAccess | null;
  /** An operator: ADMIN_TOKEN in the request, or a signed-in user listed in ADMIN_USERS. */
  admin: boolean;
};

export type ViewDecision = { kind: "show" | "sign_in" | "status_only" | "denied" | "unavailable"; viewing: Viewing };

export type ViewingContext = {
  webSessions: WebSessionSettings;
  permissions: Permissions;
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  adminUsers: readonly string[];
  adminToken: string | null;
};

export function isViewerOf(viewer: Viewer | null, session: Pick<Session, "forge" | "host">): viewer is Viewer {
  return viewer !== null && viewer.user.forge === session.forge && viewer.user.host === session.host;
}

/**
 * Decides what the request may see of `session`. Counts refusals in
 * `forgebot_permission_refusals_total` (anonymous, not_reader) unless `count` is false.
 */
export async function decideView(ctx: ViewingContext, req: IncomingMessage, session: Session, options: { count?: boolean } = {}): Promise<ViewDecision> {
  const { viewer, stale } = await findViewer(ctx.webSessions, req);
  const admin = isOperator(ctx, req, viewer);
  const visibility = sessionVisibility(session);
  let access: RepoAccess | null = null;
  let unavailable = false;
  if (isViewerOf(viewer, session)) {
    try {
      access = await ctx.permissions.accessOf(viewer.user, session);
    } catch (err: unknown) {
      if (!(err instanceof PermissionCheckError)) throw err;
      unavailable = true;
    }
  }
  const viewing: Viewing = { viewer, stale, access, admin };
  if (visibility === "public" || admin || access?.read) return { kind: "show", viewing };
  if (unavailable) return { kind: "unavailable", viewing };
  const reason = isViewerOf(viewer, session) ? "not_reader" : "anonymous";
  if (options.count !== false) permissionRefusals.inc({ forge: session.forge, reason });
  if (reason === "not_reader") return { kind: "denied", viewing };
  return { kind: ctx.signIns[session.forge] ? "sign_in" : "status_only", viewing };
}

/** Where a "Sign in with …" link goes: the forge's sign-in, back to `returnTo` afterwards. */
export function signInHref(forge: ForgeName, returnTo: string): string {
  return `/auth/${forge}?return_to=${encodeURIComponent(returnTo)}`;
}
