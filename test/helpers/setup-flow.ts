import { expect } from "@jest/globals";
import { postForm, setCookie } from "./sign-in.js";

/**
 * The setup page driven with fetch, as a browser without JavaScript would: open the page (the
 * bot sets its setup cookie), post the GitHub form, post the manifest to the fake GitHub, come
 * back to the callback with the cookie.
 */

export const SETUP_COOKIE = "forgebot_setup";

/** HTML attribute text back to the string it escapes (eta escapes & < > " '). */
export function unescapeHtml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export type SetupPage = { res: Response; html: string; cookie: string; githubToken: string | null; gitlabToken: string | null; gitlabSecret: string | null };

/**
 * `GET path` (`/` or `/setup`) with the browser's cookies (`cookie`: a Cookie header, e.g. a
 * signed-in web session); `SetupPage.cookie` is that header with the setup cookie the bot set.
 */
export async function openSetup(baseUrl: string, options: { path?: string; cookie?: string; headers?: Record<string, string> } = {}): Promise<SetupPage> {
  const res = await fetch(`${baseUrl}${options.path ?? "/setup"}`, { headers: { ...(options.cookie ? { cookie: options.cookie } : {}), ...options.headers } });
  const html = await res.text();
  const set = setCookie(res, SETUP_COOKIE);
  const cookie = [set ? `${SETUP_COOKIE}=${set.value}` : null, options.cookie ?? null].filter(Boolean).join("; ");
  const token = (action: string) => new RegExp(`<form class="setup" method="post" action="${action}">\\s*<input type="hidden" name="token" value="([^"]+)">`).exec(html)?.[1] ?? null;
  const secret = /<input type="hidden" name="webhook_secret" value="([^"]+)">/.exec(html)?.[1] ?? null;
  return { res, html, cookie, githubToken: token("/setup/github"), gitlabToken: token("/setup/gitlab"), gitlabSecret: secret };
}

export type ManifestPage = { res: Response; html: string; action: string; manifest: Record<string, unknown>; manifestJson: string };

/** `POST /setup/github` with the page's form; returns the next page's GitHub form (action and manifest). */
export async function postGitHubForm(baseUrl: string, page: SetupPage, fields: Record<string, string> = {}, headers: Record<string, string | null> = {}): Promise<ManifestPage> {
  const res = await postForm(`${baseUrl}/setup/github`, { token: page.githubToken ?? "", name: "forgebot", owner: "user", ...fields }, { cookie: page.cookie, ...headers });
  const html = await res.text();
  const form = /<form class="setup" method="post" action="([^"]+)">\s*<input type="hidden" name="manifest" value="([^"]+)">/.exec(html);
  const manifestJson = form ? unescapeHtml(form[2]!) : "";
  return { res, html, action: form ? unescapeHtml(form[1]!) : "", manifest: manifestJson ? (JSON.parse(manifestJson) as Record<string, unknown>) : {}, manifestJson };
}

/** Posts the manifest to the fake GitHub's form target; returns where it sends the browser (the callback with code and state). */
export async function createOnFakeGitHub(page: ManifestPage): Promise<URL> {
  const res = await fetch(page.action, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ manifest: page.manifestJson }).toString() });
  expect(res.status).toBe(302);
  return new URL(res.headers.get("location")!);
}

/** The bot's callback at `baseUrl` with the path and query GitHub redirected to, and the browser's cookie. */
export function githubCallback(baseUrl: string, location: URL, cookie: string | null, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}${location.pathname}${location.search}`, { redirect: "manual", headers: { ...(cookie ? { cookie } : {}), ...headers } });
}

/** The whole manifest flow from a fresh browser (holding `cookie`, if given); returns the callback's answer and its text. */
export async function registerGitHubApp(baseUrl: string, options: { fields?: Record<string, string>; headers?: Record<string, string>; cookie?: string } = {}): Promise<{ res: Response; text: string; location: URL; cookie: string }> {
  const page = await openSetup(baseUrl, { headers: options.headers ?? {}, ...(options.cookie ? { cookie: options.cookie } : {}) });
  expect(page.githubToken).not.toBeNull();
  const manifest = await postGitHubForm(baseUrl, page, options.fields, options.headers ?? {});
  expect(manifest.res.status).toBe(200);
  const location = await createOnFakeGitHub(manifest);
  const res = await githubCallback(baseUrl, location, page.cookie, options.headers ?? {});
  return { res, text: await res.text(), location, cookie: page.cookie };
}
