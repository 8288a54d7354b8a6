import type { IncomingMessage } from "node:http";
import { header } from "./http.js";
import { signSessionId, verifySessionSignature } from "../sessions/links.js";
import { constantTimeEqual } from "../sessions/text.js";
import { userKey, type Viewer } from "./web-session.js";

/**
 * The first gate of every session route: the signed link (`?sig=`, an HMAC of the id); anything
 * else is a 404, so ids cannot be probed. Who may then see a session is viewing.ts's rule, who
 * may act act.ts's (a signed-in user, a same-origin request, a form token bound to the web
 * session). The operators' list takes `ADMIN_TOKEN` or a signed-in operator.
 */

/** A positive integer id from a path segment, or null. */
export function parseSessionId(raw: string | undefined): number | null {
  if (!raw || !/^[1-9]\d{0,14}$/.test(raw)) return null;
  return Number(raw);
}

/** The session id when `:id` is valid and `sig` signs it; null means answer 404. */
export function signedSessionId(secret: string, rawId: string | undefined, url: URL): number | null {
  const id = parseSessionId(rawId);
  if (id === null) return null;
  return verifySessionSignature(secret, id, url.searchParams.get("sig")) ? id : null;
}

/** The page's own link to a session: relative, so it works behind any host name. */
export function sessionPath(secret: string, id: number, suffix = ""): string {
  return `/sessions/${id}${suffix}?sig=${signSessionId(secret, id)}`;
}

/**
 * True unless the browser says the request comes from another site. `Sec-Fetch-Site` when sent,
 * else `Origin` against the public URL and the Host the request was sent to. Clients that send
 * neither (curl) are not browsers and cannot be driven by another site.
 */
export function isSameOrigin(req: IncomingMessage, publicUrl: string): boolean {
  const site = header(req, "sec-fetch-site");
  if (site) return site === "same-origin" || site === "none";
  const origin = header(req, "origin");
  if (!origin) return true;
  const host = header(req, "host");
  const allowed = [new URL(publicUrl).origin, ...(host ? [`http://${host}`, `https://${host}`] : [])];
  return allowed.includes(origin);
}

/** `Authorization: Bearer <ADMIN_TOKEN>`, or Basic with the token as password (for browsers). */
export function hasAdminToken(req: IncomingMessage, adminToken: string): boolean {
  const auth = header(req, "authorization") ?? "";
  const [scheme, value = ""] = auth.split(/\s+/, 2);
  if (scheme?.toLowerCase() === "bearer") return constantTimeEqual(value, adminToken);
  if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    return constantTimeEqual(decoded.slice(decoded.indexOf(":") + 1), adminToken);
  }
  return false;
}

/** The challenge a 401 for operators sends, so a browser asks for the ADMIN_TOKEN (as the password). */
export const OPERATOR_CHALLENGE = 'Basic realm="forgebot operators", charset="UTF-8"';

export type OperatorSettings = { adminToken: string | null; adminUsers: readonly string[] };

/**
 * What makes the request an operator's: `"admin_token"` for ADMIN_TOKEN in the request, else the
 * signed-in user's key (`forge:login`) when ADMIN_USERS lists it; null for no operator.
 */
export function operatorOf(settings: OperatorSettings, req: IncomingMessage, viewer: Viewer | null): string | null {
  if (settings.adminToken !== null && hasAdminToken(req, settings.adminToken)) return "admin_token";
  if (viewer !== null && settings.adminUsers.includes(userKey(viewer.user))) return userKey(viewer.user);
  return null;
}

/** An operator: ADMIN_TOKEN in the request, or a signed-in user listed in ADMIN_USERS. */
export function isOperator(settings: OperatorSettings, req: IncomingMessage, viewer: Viewer | null): boolean {
  return operatorOf(settings, req, viewer) !== null;
}
