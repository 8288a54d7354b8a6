import { STOPPABLE_FROM_PAGE } from "../lifecycle/stop.js";
import type { ForgeName, ForgeProfile } from "../sessions/forge-port.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import { isTerminal } from "../sessions/state-machine.js";
import { sessionPath } from "./access.js";
import { isViewerOf, signInHref, type Viewing } from "./viewing.js";
import { formToken, type WebSessionSettings } from "./web-session.js";

/**
 * What the session page offers its viewer: Retry on an ended session, Stop on a created or
 * running one, each only for a signed-in user who may write (the mention rule) and, for Retry,
 * with `manual_retry` on for them. Anyone else gets a line saying why and what to do instead;
 * without sign-in for the session's forge, the thread's `@handle retry` / `@handle stop`.
 */

export type ActionForm = { action: string; token: string };

/** Shown instead of a button: `lead`, then `command` as code, then `tail`; `link` to act on it. */
export type ActionNote = { lead: string; command: string | null; tail: string; link: { href: string; text: string } | null };

export type SessionActions = { retry: ActionForm | null; stop: ActionForm | null; note: ActionNote | null };

export type ActionContext = {
  linkSecret: string;
  lifecycle: Pick<LifecycleDeps, "retryPolicy" | "forges">;
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  webSessions: WebSessionSettings;
  profileFor(name: ForgeName): ForgeProfile;
};

const NONE: SessionActions = { retry: null, stop: null, note: null };

function noted(lead: string, extra: Partial<ActionNote> = {}): SessionActions {
  return { retry: null, stop: null, note: { lead, command: null, tail: "", link: null, ...extra } };
}

export async function sessionActions(ctx: ActionContext, session: Session, viewing: Viewing): Promise<SessionActions> {
  const retryable = isTerminal(session.status);
  if (!retryable && !STOPPABLE_FROM_PAGE.includes(session.status)) return NONE;
  const verb = retryable ? "retry" : "stop";
  const profile = ctx.profileFor(session.forge);
  if (!ctx.signIns[session.forge]) {
    const handle = ctx.lifecycle.forges.handleFor(session.forge);
    return noted("Write ", { command: `@${handle} ${verb}`, tail: ` in the thread to ${retryable ? "run this request again" : "stop this session"}.` });
  }
  const { viewer, access } = viewing;
  if (!isViewerOf(viewer, session)) {
    return noted(`Sign in with ${profile.displayName} to ${verb} this session.`, {
      link: { href: signInHref(session.forge, sessionPath(ctx.linkSecret, session.id)), text: `Sign in with ${profile.displayName}` },
    });
  }
  if (!access?.write) return noted(`Only ${profile.writersDescription} can ${verb} sessions of ${session.repoPath}.`);
  const form = (what: "retry" | "stop"): ActionForm => ({
    action: sessionPath(ctx.linkSecret, session.id, `/${what}`),
    token: formToken(ctx.webSessions, viewer, `${what}:${session.id}`),
  });
  if (!retryable) return { ...NONE, stop: form("stop") };
  const allowed = await ctx.lifecycle.retryPolicy.retryAllowed({ forge: session.forge, login: viewer.user.login, repoPath: session.repoPath });
  return allowed ? { ...NONE, retry: form("retry") } : noted("Retrying sessions is not enabled for you here.");
}
