import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "@jest/globals";
import { waitFor } from "../../helpers/bot.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { authorize, callback, GITHUB_SIGN_IN_ENV, pageForm, postForm, setCookie, SESSION_COOKIE, SIGN_IN_COOKIE, signIn, startSignIn } from "../../helpers/sign-in.js";
import { delta, scrape } from "../observability/scrape.js";
import { seedSession, signedPath } from "./support.js";

/**
 * Sign-in with GitHub through FakeGitHub's OAuth endpoints: the flow itself, sign-out, and
 * every bad input of issue 13 — each a clear page, a 4xx, no session cookie, nothing lost.
 */

const h = useGitHubBot({ env: GITHUB_SIGN_IN_ENV });
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

beforeEach(async () => {
  await h.database.db.query("DELETE FROM web_sessions");
  await h.database.db.query("DELETE FROM sign_in_states");
});

async function webSessions(): Promise<{ id_hash: string; login: string; user_id: string; expires_at: Date; created_at: Date }[]> {
  return (await h.database.db.query("SELECT id_hash, login, user_id, expires_at, created_at FROM web_sessions ORDER BY created_at")).rows;
}

describe("sign-in with GitHub", () => {
  it("binds the state to the browser, sends the exact redirect URI, sets an HttpOnly Lax cookie for 8 hours, keeps no user token, and signs out", async () => {
    const session = await seedSession(h.bot.bot, { status: "finished", delivered: true, visibility: "private", prompt: "the private question" });
    const before = await scrape(h.bot.baseUrl);
    const start = await startSignIn(h.bot.baseUrl, "github", signedPath(session.id));
    const authorizeUrl = new URL(start.authorizeUrl);
    expect(`${authorizeUrl.origin}${authorizeUrl.pathname}`).toBe("https://github.com/login/oauth/authorize");
    expect(authorizeUrl.searchParams.get("client_id")).toBe("Iv1.fakeclient");
    expect(authorizeUrl.searchParams.get("redirect_uri")).toBe("http://forgebot.test/auth/github/callback");
    const state = authorizeUrl.searchParams.get("state")!;
    expect(state).toMatch(/^[\w-]{43}$/);
    expect(setCookie(start.res, SIGN_IN_COOKIE)!.header).toMatch(/^forgebot_sign_in=[\w-]{43}; Path=\/auth; Max-Age=600; HttpOnly; SameSite=Lax$/);
    // Only hashes are stored: neither the state nor the browser's cookie can be read back.
    const { rows: states } = await h.database.db.query<Record<string, string>>("SELECT * FROM sign_in_states");
    expect(states).toHaveLength(1);
    expect(states[0]!.state_hash).toBe(sha256(state));
    expect(JSON.stringify(states)).not.toContain(state);
    expect(JSON.stringify(states)).not.toContain(start.browserCookie.split("=")[1]);

    const res = await callback(h.bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(signedPath(session.id));
    const cookie = setCookie(res, SESSION_COOKIE)!;
    expect(cookie.header).toMatch(/^forgebot_session=[\w-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax$/);
    expect(setCookie(res, SIGN_IN_COOKIE)!.header).toContain("Max-Age=0");
    const [row] = await webSessions();
    expect(row).toMatchObject({ id_hash: sha256(cookie.value), login: "Codertocat", user_id: "21031067" });
    const lifetime = row!.expires_at.getTime() - row!.created_at.getTime();
    expect(Math.abs(lifetime - 8 * 3_600_000)).toBeLessThan(5000);
    expect(await h.database.db.query("SELECT 1 FROM sign_in_states")).toMatchObject({ rowCount: 0 });

    // The user token was used once (GET /user) and revoked: forgebot keeps none.
    await waitFor("the user token's revocation", () => h.fake.revokedTokens.length === 1);
    expect(h.fake.oauthTokens.size).toBe(0);
    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_signins_total", { forge: "github", outcome: "ok" })).toBe(1);

    // Signed in: the private page shows, with who is signed in and a Sign out form.
    const browser = `${SESSION_COOKIE}=${cookie.value}`;
    const page = await fetch(`${h.bot.baseUrl}${signedPath(session.id)}`, { headers: { cookie: browser } });
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain("the private question");
    expect(html).toContain("Signed in as <strong>@Codertocat</strong> (GitHub)");
    const logout = /<form class="logout" method="post" action="\/auth\/logout">\s*<input type="hidden" name="token" value="([\w-]+)">\s*<input type="hidden" name="return_to" value="([^"]+)">/.exec(html)!;
    expect(logout).not.toBeNull();

    // Sign out needs the form's token; then the row is gone, the cookie cleared, the page private again.
    expect((await postForm(`${h.bot.baseUrl}/auth/logout`, { token: "nope" }, { cookie: browser })).status).toBe(403);
    expect(await webSessions()).toHaveLength(1);
    const out = await postForm(`${h.bot.baseUrl}/auth/logout`, { token: logout[1]!, return_to: logout[2]!.replace(/&amp;/g, "&") }, { cookie: browser });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe(signedPath(session.id));
    expect(setCookie(out, SESSION_COOKIE)!.header).toContain("Max-Age=0");
    expect(await webSessions()).toEqual([]);
    expect((await fetch(`${h.bot.baseUrl}${signedPath(session.id)}`, { headers: { cookie: browser } })).status).toBe(401);
  });

  it("without return_to, ends on a page saying who signed in; a second sign-in replaces the first web session", async () => {
    const first = await signIn(h.bot.baseUrl, "github");
    expect(first.res.status).toBe(200);
    expect(await first.res.text()).toContain("Signed in as @Codertocat on GitHub.");
    h.fake.oauthUser = { id: 5, login: "mona" };
    const start = await startSignIn(h.bot.baseUrl, "github", undefined, first.cookie);
    const res = await callback(h.bot.baseUrl, await authorize(start.authorizeUrl), `${start.browserCookie}; ${first.cookie}`);
    expect(res.status).toBe(200);
    const rows = await webSessions();
    expect(rows.map((r) => r.login)).toEqual(["mona"]);
  });
});

describe("bad input", () => {
  /** Every refusal: a 4xx page that says why, and no session cookie. */
  async function refused(res: Response, status: number, text: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(setCookie(res, SESSION_COOKIE)).toBeUndefined();
    const html = await res.text();
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(html).toContain(text);
  }

  it("a forged, replayed, expired or foreign state, or a missing or tampered browser cookie, is refused as bad_state", async () => {
    const before = await scrape(h.bot.baseUrl);
    const start = await startSignIn(h.bot.baseUrl, "github");
    const back = await authorize(start.authorizeUrl);

    const forged = new URL(back);
    forged.searchParams.set("state", "A".repeat(43));
    await refused(await callback(h.bot.baseUrl, forged, start.browserCookie), 400, "This sign-in link is not valid");
    await refused(await callback(h.bot.baseUrl, back, null), 400, "was not started in this browser");
    await refused(await callback(h.bot.baseUrl, back, `${SIGN_IN_COOKIE}=tampered`), 400, "was not started in this browser");
    // Another browser that started its own sign-in cannot finish this one…
    const other = await startSignIn(h.bot.baseUrl, "github");
    await refused(await callback(h.bot.baseUrl, back, other.browserCookie), 400, "This sign-in link is not valid");
    // …and did not spend it: the browser that started it still can, once.
    const ok = await callback(h.bot.baseUrl, back, start.browserCookie);
    expect(setCookie(ok, SESSION_COOKIE)?.value).toMatch(/^[\w-]{43}$/);
    await refused(await callback(h.bot.baseUrl, back, start.browserCookie), 400, "already used, has expired");

    const late = await startSignIn(h.bot.baseUrl, "github");
    const lateBack = await authorize(late.authorizeUrl);
    await h.database.db.query("UPDATE sign_in_states SET expires_at = now() - interval '1 second'");
    await refused(await callback(h.bot.baseUrl, lateBack, late.browserCookie), 400, "has expired");

    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_signins_total", { forge: "github", outcome: "bad_state" })).toBe(6);
    expect(await webSessions()).toHaveLength(1);
  });

  it("a wrong code, a declined authorization, and GitHub failing (5xx, or no user) are refused", async () => {
    const before = await scrape(h.bot.baseUrl);
    let start = await startSignIn(h.bot.baseUrl, "github");
    const wrong = await authorize(start.authorizeUrl);
    wrong.searchParams.set("code", "not-a-code");
    await refused(await callback(h.bot.baseUrl, wrong, start.browserCookie), 400, "GitHub did not accept this sign-in");

    h.fake.oauthUser = null;
    start = await startSignIn(h.bot.baseUrl, "github");
    const declined = await authorize(start.authorizeUrl);
    expect(declined.searchParams.get("error")).toBe("access_denied");
    await refused(await callback(h.bot.baseUrl, declined, start.browserCookie), 403, "the authorization was declined");
    h.fake.oauthUser = { id: 1, login: "Codertocat" };

    h.fake.interceptors.push((r) => (r.path === "/login/oauth/access_token" ? [502, { message: "bad gateway" }] : undefined));
    start = await startSignIn(h.bot.baseUrl, "github");
    await refused(await callback(h.bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie), 400, "GitHub could not complete the sign-in just now");
    h.fake.interceptors.length = 0;

    h.fake.interceptors.push((r) => (r.method === "GET" && r.path === "/user" ? [503, { message: "unavailable" }] : undefined));
    start = await startSignIn(h.bot.baseUrl, "github");
    await refused(await callback(h.bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie), 400, "GitHub could not complete the sign-in just now");
    h.fake.interceptors.length = 0;
    // Even a sign-in that failed after the exchange leaves no user token behind.
    await waitFor("the token's revocation", () => h.fake.revokedTokens.length === 1);
    expect(h.fake.oauthTokens.size).toBe(0);

    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_signins_total", { forge: "github", outcome: "denied" })).toBe(2);
    expect(delta(before, after, "forgebot_signins_total", { forge: "github", outcome: "error" })).toBe(2);
    expect(await webSessions()).toEqual([]);
  });

  it("a return_to to another host is refused before anything is stored or set", async () => {
    const cases = ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "/sessions\r\nSet-Cookie: x=1", "javascript:alert(1)", "sessions/1", `/${"a".repeat(3000)}`];
    for (const target of cases) {
      const res = await fetch(`${h.bot.baseUrl}/auth/github?return_to=${encodeURIComponent(target)}`, { redirect: "manual" });
      expect([target, res.status]).toEqual([target, 400]);
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(await res.text()).toContain("not a page of this site");
    }
    expect(await h.database.db.query("SELECT 1 FROM sign_in_states")).toMatchObject({ rowCount: 0 });
    // A path of this site is kept, query and all.
    const start = await startSignIn(h.bot.baseUrl, "github", "/sessions/5?sig=abc&x=1");
    const res = await callback(h.bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie);
    expect(res.headers.get("location")).toBe("/sessions/5?sig=abc&x=1");
  });

  it("a tampered or unknown session cookie signs nobody in and is cleared; an unknown forge has no sign-in", async () => {
    const session = await seedSession(h.bot.bot, { status: "finished", delivered: true, visibility: "private", prompt: "hidden" });
    for (const cookie of [`${SESSION_COOKIE}=${"x".repeat(43)}`, `${SESSION_COOKIE}=not-an-id`, `${SESSION_COOKIE}=${"x".repeat(42)}%00`]) {
      const res = await fetch(`${h.bot.baseUrl}${signedPath(session.id)}`, { headers: { cookie } });
      expect(res.status).toBe(401);
      expect(setCookie(res, SESSION_COOKIE)!.header).toContain("Max-Age=0");
      const html = await res.text();
      expect(html).not.toContain("hidden");
      expect(html).toContain("Your sign-in has expired.");
    }
    // GitLab is not configured on this bot: no sign-in there, and no state stored.
    const gitlab = await fetch(`${h.bot.baseUrl}/auth/gitlab`, { redirect: "manual" });
    expect(gitlab.status).toBe(404);
    expect(await gitlab.text()).toContain("Sign-in with GitLab is not set up");
    expect((await fetch(`${h.bot.baseUrl}/auth/bitbucket`, { redirect: "manual" })).status).toBe(404);
    // A logout from another site changes nothing.
    const { cookie } = await signIn(h.bot.baseUrl, "github");
    const html = await (await fetch(`${h.bot.baseUrl}${signedPath(session.id)}`, { headers: { cookie } })).text();
    const token = /name="token" value="([\w-]+)"/.exec(html)![1]!;
    const foreign = await postForm(`${h.bot.baseUrl}/auth/logout`, { token }, { cookie, "sec-fetch-site": "cross-site" });
    expect(foreign.status).toBe(403);
    expect(await webSessions()).toHaveLength(1);
    expect(pageForm(html, "retry")).not.toBeNull();
  });
});
