import type { IncomingMessage, ServerResponse } from "node:http";
import type { ForgeName } from "../sessions/forge-port.js";
import type { ForgeDirectory, ForgeSetup, ForgeStatus } from "../sessions/setup-port.js";
import type { SetupStateStore } from "../storage/setup-state-store.js";
import { isSameOrigin, operatorOf } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { readCookies, setCookie } from "./cookies.js";
import { BodyTooLargeError, readForm } from "./http.js";
import { dropStaleCookie, findViewer, isRandomId, keyedToken, newRandomId, verifyKeyedToken, type Viewer } from "./web-session.js";

/**
 * Who may run the setup page, and its forms' protection. Before any forge is configured nobody
 * can sign in, so the first run is open to whoever reaches the page (trust on first use, like
 * any fresh install); once a forge is configured only an operator (ADMIN_TOKEN, or a signed-in
 * user in ADMIN_USERS) may run it again. Every POST must come from this site (`isSameOrigin`)
 * and carry a form token bound to the browser's setup cookie (HttpOnly, SameSite=Lax, an hour).
 */

/** What the composition root gives the setup and status pages. */
export type SetupOptions = {
  directory: ForgeDirectory;
  registration: ForgeSetup;
  /** Job counts of each queue, by state (`waiting`, `active`, `delayed`, `failed`). */
  queueCounts(): Promise<Record<string, Record<string, number>>>;
};

export type SetupContext = SessionWebContext & { setup: SetupOptions; states: SetupStateStore };

export const SETUP_COOKIE = "forgebot_setup";
const SETUP_COOKIE_SECONDS = 3600;
/** The setup forms' fields (the GitLab token is the largest); anything bigger is not our form. */
const MAX_FORM_BYTES = 8192;

/** An operator: ADMIN_TOKEN in the request, or a signed-in user in ADMIN_USERS; `by` names them for the record. */
export type Requester = { viewer: Viewer | null; operator: boolean; by: string };

export async function requesterOf(ctx: SetupContext, req: IncomingMessage, res: ServerResponse): Promise<Requester> {
  const lookup = await findViewer(ctx.webSessions, req);
  dropStaleCookie(ctx.webSessions, res, lookup);
  const viewer = lookup.viewer;
  const by = operatorOf(ctx, req, viewer);
  return by !== null ? { viewer, operator: true, by } : { viewer, operator: false, by: "first_run" };
}

/** The browser's setup cookie id, set on the response when the request has none. */
export function setupBrowser(ctx: SetupContext, req: IncomingMessage, res: ServerResponse): string {
  const existing = readCookies(req).get(SETUP_COOKIE);
  if (isRandomId(existing)) return existing;
  const id = newRandomId();
  res.appendHeader("set-cookie", setCookie(SETUP_COOKIE, id, { path: "/", maxAgeSeconds: SETUP_COOKIE_SECONDS, secure: ctx.webSessions.secureCookies }));
  return id;
}

/** The request's setup cookie id, or null (never set here: a POST or callback without one is refused). */
export function existingSetupBrowser(req: IncomingMessage): string | null {
  const existing = readCookies(req).get(SETUP_COOKIE);
  return isRandomId(existing) ? existing : null;
}

/** A setup form's token for `purpose` (`github`, `gitlab`), bound to the browser's setup cookie. */
export function setupFormToken(ctx: SetupContext, browser: string, purpose: string): string {
  return keyedToken(ctx.linkSecret, `setup-form:${purpose}:${browser}`);
}

function verifySetupFormToken(ctx: SetupContext, browser: string, purpose: string, token: string | null): boolean {
  return verifyKeyedToken(ctx.linkSecret, `setup-form:${purpose}:${browser}`, token);
}

/** A GitLab webhook secret to paste: random-looking, the same for one browser while its setup cookie lasts (a reload keeps it). */
export function suggestedGitLabSecret(ctx: SetupContext, browser: string): string {
  return keyedToken(ctx.linkSecret, `gitlab-webhook-secret:${browser}`);
}

/**
 * A setup POST's checks, in order: from this site, a form body within the limit, the browser's
 * setup cookie and the form's token for `purpose`. The form and the browser's setup id, or null
 * once `refuse` has answered.
 */
export async function acceptSetupPost(
  ctx: SetupContext,
  req: IncomingMessage,
  purpose: string,
  refuse: (status: number, reason: "cross_site" | "too_large" | "bad_form") => void,
): Promise<{ form: URLSearchParams; browser: string } | null> {
  if (!isSameOrigin(req, ctx.publicUrl)) {
    req.resume();
    refuse(403, "cross_site");
    return null;
  }
  let form: URLSearchParams | null;
  try {
    form = await readForm(req, MAX_FORM_BYTES);
  } catch (err: unknown) {
    if (err instanceof BodyTooLargeError) {
      refuse(413, "too_large");
      return null;
    }
    throw err;
  }
  const browser = existingSetupBrowser(req);
  if (!form || !browser || !verifySetupFormToken(ctx, browser, purpose, form.get("token"))) {
    refuse(403, "bad_form");
    return null;
  }
  return { form, browser };
}

/** Which forges are configured, read afresh (another web process may have just configured one). */
export function configuredForges(ctx: SetupContext): Promise<ForgeStatus[]> {
  return ctx.setup.directory.status({ fresh: true });
}

/** True when environment variables configure `forge`: they take precedence over anything the setup page would store. */
export function configuredByEnvironment(configured: readonly ForgeStatus[], forge: ForgeName): boolean {
  return configured.some((f) => f.forge === forge && f.origin === "env");
}

/** "GitHub (github.com) and GitLab (gitlab.com)". */
export function forgeList(ctx: SetupContext, forges: readonly ForgeStatus[]): string {
  const names = forges.map((f) => `${ctx.profileFor(f.forge).displayName} (${f.host})`);
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
