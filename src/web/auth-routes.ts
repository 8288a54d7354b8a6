import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { signIns as signInCount } from "../metrics/index.js";
import { FORGE_NAMES, type ForgeName } from "../sessions/forge-port.js";
import { SignInError } from "../sessions/sign-in-port.js";
import { isSameOrigin } from "./access.js";
import type { SessionWebContext } from "./context.js";
import { readCookies, setCookie } from "./cookies.js";
import { BodyTooLargeError, readForm } from "./http.js";
import { safeReturnTo } from "./return-to.js";
import type { Router } from "./router.js";
import { sendMessage, type MessagePage } from "./templates.js";
import { signInHref } from "./viewing.js";
import {
  clearedSessionCookie,
  findViewer,
  hashId,
  isRandomId,
  newRandomId,
  SESSION_COOKIE,
  sessionCookie,
  verifyFormToken,
  WEB_SESSION_TTL_MS,
} from "./web-session.js";

/**
 * Sign-in through the forge: `GET /auth/<forge>` starts it, `GET /auth/<forge>/callback` ends
 * it, `POST /auth/logout` ends the web session.
 *
 * The OAuth `state` is bound to the browser: the start sets a short-lived HttpOnly cookie and
 * stores the state's hash with that cookie's hash, the PKCE verifier and where to return; the
 * callback takes that row once (a replayed, forged or foreign state finds none). The redirect
 * URI is exactly `PUBLIC_URL/auth/<forge>/callback`, and `return_to` only a path of this site.
 * Every refusal is a page saying why with a 4xx, and sets no session cookie.
 */

const SIGN_IN_COOKIE = "forgebot_sign_in";
/** How long a sign-in may take between leaving for the forge and coming back. */
export const SIGN_IN_STATE_TTL_MS = 10 * 60_000;
/** The logout form's fields. */
const MAX_FORM_BYTES = 8192;

type SignInOutcome = "ok" | "denied" | "bad_state" | "error";

function forgeOf(raw: string | undefined): ForgeName | null {
  return FORGE_NAMES.find((f) => f === raw) ?? null;
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

export function redirectUri(ctx: SessionWebContext, forge: ForgeName): string {
  return `${ctx.publicUrl}/auth/${forge}/callback`;
}

function signInCookie(ctx: SessionWebContext, value: string, maxAgeSeconds: number): string {
  return setCookie(SIGN_IN_COOKIE, value, { path: "/auth", maxAgeSeconds, secure: ctx.webSessions.secureCookies });
}

function notConfigured(ctx: SessionWebContext, res: ServerResponse, forge: ForgeName | null): void {
  const name = forge ? ctx.profileFor(forge).displayName : "this forge";
  sendMessage(res, 404, { heading: "Sign-in is not set up", text: `Sign-in with ${name} is not set up on this forgebot.`, tone: "warn" });
}

/** `GET /auth/:forge?return_to=/path`: to the forge's authorize page, with the state bound to this browser. */
async function startSignIn(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawForge: string | undefined, url: URL): Promise<void> {
  const forge = forgeOf(rawForge);
  const provider = forge ? ctx.signIns[forge] : undefined;
  if (!forge || !provider) return notConfigured(ctx, res, forge);
  const rawReturn = url.searchParams.get("return_to");
  const returnTo = rawReturn === null || rawReturn === "" ? null : safeReturnTo(rawReturn, ctx.publicUrl);
  if (rawReturn && !returnTo) {
    return sendMessage(res, 400, {
      heading: "Sign-in refused",
      text: "The address to return to after signing in is not a page of this site.",
      tone: "warn",
    });
  }
  // A browser already signing in (another tab) keeps its cookie, so both sign-ins can finish.
  const existing = readCookies(req).get(SIGN_IN_COOKIE);
  const browser = isRandomId(existing) ? existing : newRandomId();
  const state = newRandomId();
  const codeVerifier = newRandomId();
  await ctx.webSessions.store.deleteExpired();
  await ctx.webSessions.store.saveSignInState({
    stateHash: hashId(state),
    browserHash: hashId(browser),
    forge,
    codeVerifier,
    returnTo,
    ttlMs: SIGN_IN_STATE_TTL_MS,
  });
  const location = provider.authorizeUrl({ state, redirectUri: redirectUri(ctx, forge), codeChallenge: s256(codeVerifier) });
  res.writeHead(302, { location, "cache-control": "no-store", "set-cookie": signInCookie(ctx, browser, SIGN_IN_STATE_TTL_MS / 1000), "referrer-policy": "no-referrer" });
  res.end();
}

/** `GET /auth/:forge/callback?code=&state=`: checks the state, exchanges the code, starts the web session. */
async function finishSignIn(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawForge: string | undefined, url: URL): Promise<void> {
  const forge = forgeOf(rawForge);
  const provider = forge ? ctx.signIns[forge] : undefined;
  if (!forge || !provider) return notConfigured(ctx, res, forge);
  const name = ctx.profileFor(forge).displayName;
  const log = ctx.log.child({ forge });
  let again = { href: `/auth/${forge}`, text: `Sign in with ${name} again` };
  const fail = (status: number, outcome: Exclude<SignInOutcome, "ok">, text: string, link: MessagePage["link"] = again) => {
    signInCount.inc({ forge, outcome });
    log.info({ outcome, status }, "sign-in refused");
    sendMessage(res, status, { heading: "Sign-in failed", text, tone: "warn", ...(link ? { link } : {}) });
  };

  const browser = readCookies(req).get(SIGN_IN_COOKIE);
  const state = url.searchParams.get("state") ?? "";
  if (!isRandomId(browser)) {
    return fail(400, "bad_state", "This sign-in was not started in this browser, or took longer than 10 minutes. Start it again.");
  }
  const taken = isRandomId(state) ? await ctx.webSessions.store.takeSignInState(hashId(state), hashId(browser), forge) : null;
  if (!taken) {
    return fail(400, "bad_state", "This sign-in link is not valid: it was already used, has expired, or was not started in this browser. Start again.");
  }
  if (taken.returnTo) again = { ...again, href: signInHref(forge, taken.returnTo) };
  const error = url.searchParams.get("error");
  if (error === "access_denied") return fail(403, "denied", `${name} did not sign you in: the authorization was declined.`);
  if (error) return fail(400, "error", `${name} answered the sign-in with an error (${error.slice(0, 80)}). Try again.`);
  const code = url.searchParams.get("code");
  if (!code || code.length > 512) return fail(400, "error", `${name} sent no sign-in code. Try again.`);

  let user;
  try {
    user = await provider.signIn({ code, redirectUri: redirectUri(ctx, forge), codeVerifier: taken.codeVerifier });
  } catch (err: unknown) {
    if (!(err instanceof SignInError)) throw err;
    log.warn({ err, failure: err.failure }, "sign-in exchange failed");
    if (err.failure === "bad_code") return fail(400, "denied", `${name} did not accept this sign-in (the code is wrong, used or expired). Start again.`);
    return fail(400, "error", `${name} could not complete the sign-in just now. Nothing was changed; try again in a moment.`);
  }

  // A fresh id for every sign-in; the browser's previous web session, if any, ends here.
  const previous = readCookies(req).get(SESSION_COOKIE);
  if (isRandomId(previous)) await ctx.webSessions.store.deleteWebSession(hashId(previous));
  const id = newRandomId();
  await ctx.webSessions.store.createWebSession(hashId(id), user, WEB_SESSION_TTL_MS);
  signInCount.inc({ forge, outcome: "ok" });
  log.info({ login: user.login }, "signed in");
  res.appendHeader("set-cookie", sessionCookie(ctx.webSessions, id));
  res.appendHeader("set-cookie", signInCookie(ctx, "", 0));
  if (taken.returnTo) {
    res.writeHead(303, { location: taken.returnTo, "cache-control": "no-store" });
    res.end();
    return;
  }
  sendMessage(res, 200, { heading: "Signed in", text: `Signed in as @${user.login} on ${name}. Open a session link to see it.`, tone: "info" });
}

/** `POST /auth/logout` (same origin, the form's token): ends the web session and clears the cookie. */
async function logout(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isSameOrigin(req, ctx.publicUrl)) {
    req.resume();
    return sendMessage(res, 403, { heading: "Sign-out refused", text: "This sign-out did not come from a page of this site.", tone: "warn" });
  }
  let form: URLSearchParams;
  try {
    form = (await readForm(req, MAX_FORM_BYTES)) ?? new URLSearchParams();
  } catch (err: unknown) {
    if (err instanceof BodyTooLargeError) return sendMessage(res, 413, { heading: "Sign-out refused", text: "The sign-out form was too large.", tone: "warn" });
    throw err;
  }
  const { viewer } = await findViewer(ctx.webSessions, req);
  if (viewer && !verifyFormToken(ctx.webSessions, viewer, "logout", form.get("token"))) {
    return sendMessage(res, 403, { heading: "Sign-out refused", text: "The sign-out form is not valid for your sign-in. Reload the page and try again.", tone: "warn" });
  }
  if (viewer) {
    await ctx.webSessions.store.deleteWebSession(hashId(viewer.cookieId));
    ctx.log.info({ forge: viewer.user.forge, login: viewer.user.login }, "signed out");
  }
  res.appendHeader("set-cookie", clearedSessionCookie(ctx.webSessions));
  const returnTo = safeReturnTo(form.get("return_to"), ctx.publicUrl);
  if (returnTo) {
    res.writeHead(303, { location: returnTo, "cache-control": "no-store" });
    res.end();
    return;
  }
  sendMessage(res, 200, { heading: "Signed out", text: "You are signed out of forgebot.", tone: "info" });
}

export function addAuthRoutes(router: Router, ctx: SessionWebContext): Router {
  return router
    .add("GET", "/auth/:forge", (req, res, p, url) => startSignIn(ctx, req, res, p.forge, url))
    .add("GET", "/auth/:forge/callback", (req, res, p, url) => finishSignIn(ctx, req, res, p.forge, url))
    .add("POST", "/auth/logout", (req, res) => logout(ctx, req, res));
}
