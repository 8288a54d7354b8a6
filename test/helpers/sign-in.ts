import { createHmac } from "node:crypto";
import { expect } from "@jest/globals";

/**
 * A browser's sign-in, driven with fetch: `GET /auth/<forge>` (the bot binds the state to a
 * cookie), the fake forge's authorize page (which answers at once with a code), then the
 * callback with that cookie. Works against FakeGitHub / FakeGitLab behind nock or on loopback.
 */

export const SESSION_COOKIE = "forgebot_session";
export const SIGN_IN_COOKIE = "forgebot_sign_in";

/** The value a response sets for cookie `name` (undefined when it sets none), and the whole header. */
export function setCookie(res: Response, name: string): { value: string; header: string } | undefined {
  const header = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  return header ? { value: header.slice(name.length + 1).split(";")[0]!, header } : undefined;
}

export type SignInStart = { res: Response; authorizeUrl: string; browserCookie: string };

export async function startSignIn(baseUrl: string, forge: "github" | "gitlab", returnTo?: string, cookie?: string): Promise<SignInStart> {
  const query = returnTo === undefined ? "" : `?return_to=${encodeURIComponent(returnTo)}`;
  const res = await fetch(`${baseUrl}/auth/${forge}${query}`, { redirect: "manual", ...(cookie ? { headers: { cookie } } : {}) });
  expect(res.status).toBe(302);
  const browser = setCookie(res, SIGN_IN_COOKIE);
  expect(browser).toBeDefined();
  return { res, authorizeUrl: res.headers.get("location")!, browserCookie: `${SIGN_IN_COOKIE}=${browser!.value}` };
}

/** Follows the forge's authorize page; returns the callback URL it sends the browser to. */
export async function authorize(authorizeUrl: string): Promise<URL> {
  const res = await fetch(authorizeUrl, { redirect: "manual" });
  expect(res.status).toBe(302);
  return new URL(res.headers.get("location")!);
}

/** Calls the bot's callback (at `baseUrl`, whatever host PUBLIC_URL names) with the browser's cookie. */
export function callback(baseUrl: string, callbackUrl: URL, cookie: string | null): Promise<Response> {
  return fetch(`${baseUrl}${callbackUrl.pathname}${callbackUrl.search}`, { redirect: "manual", ...(cookie ? { headers: { cookie } } : {}) });
}

/** A whole sign-in; returns the `Cookie` header value of the signed-in browser. */
export async function signIn(baseUrl: string, forge: "github" | "gitlab", returnTo?: string): Promise<{ cookie: string; id: string; res: Response }> {
  const start = await startSignIn(baseUrl, forge, returnTo);
  const res = await callback(baseUrl, await authorize(start.authorizeUrl), start.browserCookie);
  const session = setCookie(res, SESSION_COOKIE);
  if (!session?.value) throw new Error(`sign-in did not set a session cookie (status ${res.status}): ${await res.text()}`);
  return { cookie: `${SESSION_COOKIE}=${session.value}`, id: session.value, res };
}

/** The token a page's form for `purpose` carries for the browser with web session `id` (what the bot computes). */
export function formTokenFor(linkSecret: string, id: string, purpose: string): string {
  return createHmac("sha256", linkSecret).update(`form:${purpose}:${id}`).digest("base64url");
}

/** A form POST as a browser on the page sends it; `headers` entries set to null are left out. */
export function postForm(url: string, fields: Record<string, string>, headers: Record<string, string | null> = {}): Promise<Response> {
  const origin = new URL(url).origin;
  const all: Record<string, string | null> = { "content-type": "application/x-www-form-urlencoded", origin, "sec-fetch-site": "same-origin", ...headers };
  return fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null)),
    body: new URLSearchParams(fields).toString(),
  });
}

/** The env that turns sign-in with GitHub on for a test bot, matching FakeGitHub's OAuth client. */
export const GITHUB_SIGN_IN_ENV: Record<string, string> = { GITHUB_CLIENT_ID: "Iv1.fakeclient", GITHUB_CLIENT_SECRET: "fake-client-secret" };

/** The Retry / Stop form of a session page's HTML: its action (unescaped) and token, or null. */
export function pageForm(html: string, kind: "retry" | "stop" | "logout"): { action: string; token: string } | null {
  const m = new RegExp(`<form class="${kind}" method="post" action="([^"]+)">\\s*<input type="hidden" name="token" value="([^"]+)">`).exec(html);
  return m ? { action: m[1]!.replace(/&amp;/g, "&"), token: m[2]! } : null;
}
