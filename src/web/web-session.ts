import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ForgeUser } from "../sessions/sign-in-port.js";
import { constantTimeEqual } from "../sessions/text.js";
import type { WebSessionStore } from "../storage/web-session-store.js";
import { readCookies, setCookie } from "./cookies.js";

/**
 * The web session: who a browser is signed in as. The cookie holds an opaque random id; the
 * database holds only its SHA-256, the user and the expiry (8 h after sign-in). Forms that act
 * (Retry, Stop, Sign out) carry a token bound to that id, so a page fetched by another browser,
 * or before a sign-in, cannot post for this one.
 */

export const SESSION_COOKIE = "forgebot_session";
export const WEB_SESSION_TTL_MS = 8 * 3_600_000;

/** 32 random bytes, base64url: 43 characters. */
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A signed-in browser: its user and the cookie's id (kept in memory only, to bind form tokens). */
export type Viewer = { user: ForgeUser; cookieId: string };

/** `stale`: the request carried a session cookie that signs nobody in (expired, signed out, tampered). */
export type ViewerLookup = { viewer: Viewer | null; stale: boolean };

export type WebSessionSettings = { store: WebSessionStore; linkSecret: string; secureCookies: boolean };

export function newRandomId(): string {
  return randomBytes(32).toString("base64url");
}

export function isRandomId(value: string | undefined): value is string {
  return value !== undefined && ID_PATTERN.test(value);
}

export function hashId(id: string): string {
  return createHash("sha256").update(id, "utf8").digest("hex");
}

/** Who the request's cookie signs in, if anyone. */
export async function findViewer(settings: WebSessionSettings, req: IncomingMessage): Promise<ViewerLookup> {
  const raw = readCookies(req).get(SESSION_COOKIE);
  if (raw === undefined || raw === "") return { viewer: null, stale: false };
  if (!isRandomId(raw)) return { viewer: null, stale: true };
  const row = await settings.store.findWebSession(hashId(raw));
  return row ? { viewer: { user: row.user, cookieId: raw }, stale: false } : { viewer: null, stale: true };
}

export function sessionCookie(settings: WebSessionSettings, id: string): string {
  return setCookie(SESSION_COOKIE, id, { path: "/", maxAgeSeconds: WEB_SESSION_TTL_MS / 1000, secure: settings.secureCookies });
}

export function clearedSessionCookie(settings: WebSessionSettings): string {
  return setCookie(SESSION_COOKIE, "", { path: "/", maxAgeSeconds: 0, secure: settings.secureCookies });
}

/** Clears a stale session cookie on the response about to be sent. */
export function dropStaleCookie(settings: WebSessionSettings, res: ServerResponse, lookup: ViewerLookup): void {
  if (lookup.stale && !res.headersSent) res.appendHeader("set-cookie", clearedSessionCookie(settings));
}

/** The HMAC-SHA256 of `input` under `secret`, base64url: the value of every form token (and the like). */
export function keyedToken(secret: string, input: string): string {
  return createHmac("sha256", secret).update(input).digest("base64url");
}

/** True when `token` is present and equals `keyedToken(secret, input)` (compared in constant time). */
export function verifyKeyedToken(secret: string, input: string, token: string | null): boolean {
  return token !== null && token !== "" && constantTimeEqual(token, keyedToken(secret, input));
}

/** A form's token for `purpose` (`retry:12`, `stop:12`, `logout`), bound to the viewer's web session. */
export function formToken(settings: WebSessionSettings, viewer: Viewer, purpose: string): string {
  return keyedToken(settings.linkSecret, `form:${purpose}:${viewer.cookieId}`);
}

export function verifyFormToken(settings: WebSessionSettings, viewer: Viewer, purpose: string, token: string | null): boolean {
  return verifyKeyedToken(settings.linkSecret, `form:${purpose}:${viewer.cookieId}`, token);
}

/** `forge:login` in lower case, as ADMIN_USERS lists operators. */
export function userKey(user: ForgeUser): string {
  return `${user.forge}:${user.login}`.toLowerCase();
}
