import type { IncomingMessage } from "node:http";

/** Cookies of a request by name; the first of a repeated name wins, malformed pairs are skipped. */
export function readCookies(req: IncomingMessage): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const pair of (req.headers.cookie ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim();
    if (!cookies.has(name)) cookies.set(name, pair.slice(at + 1).trim());
  }
  return cookies;
}

export type CookieOptions = { path: string; maxAgeSeconds: number; secure: boolean };

/**
 * A `Set-Cookie` value: always HttpOnly and SameSite=Lax (sent on the forge's redirect back, a
 * top-level GET, but never on another site's POST). Max-Age 0 deletes the cookie.
 */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  return [`${name}=${value}`, `Path=${options.path}`, `Max-Age=${options.maxAgeSeconds}`, "HttpOnly", "SameSite=Lax", ...(options.secure ? ["Secure"] : [])].join("; ");
}
