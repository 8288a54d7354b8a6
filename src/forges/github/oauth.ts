import type { Logger } from "pino";
import type { GitHubSignInConfig } from "../../config/index.js";
import { SignInError, type ForgeUser, type SignInProvider } from "../../sessions/sign-in-port.js";
import { formBody, readJson, revokeQuietly } from "../oauth-http.js";

/**
 * Sign-in with GitHub: the GitHub App's user authorization, which is OAuth's web flow. The
 * browser goes to `WEB/login/oauth/authorize`; the code is exchanged at
 * `POST WEB/login/oauth/access_token` (on GHES at the host's root, not under /api/v3) with
 * `Accept: application/json`, or GitHub answers form-encoded; the user is `GET API/user`. GitHub
 * answers a bad code with 200 and an `error` field. The user token is revoked right after
 * (`DELETE /applications/{client_id}/token`), so forgebot holds none.
 */
export function createGitHubSignIn(config: GitHubSignInConfig, log: Logger): SignInProvider {
  const basic = `Basic ${Buffer.from(`${config.clientId}:${config.clientSecret}`).toString("base64")}`;
  const apiHeaders = { accept: "application/vnd.github+json", "user-agent": "forgebot", "x-github-api-version": "2022-11-28" };

  async function exchange(code: string, redirectUri: string): Promise<string> {
    const answer = await readJson("GitHub token exchange", `${config.webUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded", "user-agent": "forgebot" },
      body: formBody({ client_id: config.clientId, client_secret: config.clientSecret, code, redirect_uri: redirectUri }),
    });
    const body = answer.body as { access_token?: unknown; error?: unknown; error_description?: unknown };
    if (typeof body.access_token === "string" && body.access_token) return body.access_token;
    if (body.error === "bad_verification_code") throw new SignInError("bad_code", "GitHub refused the code: it is wrong, used or expired");
    // A client or redirect the app does not know is a set-up problem, not the user's.
    throw new SignInError("forge_error", `GitHub refused the token exchange: ${String(body.error ?? `status ${answer.status}`)}`);
  }

  return {
    forge: "github",
    host: config.host,
    authorizeUrl({ state, redirectUri }) {
      const url = new URL(`${config.webUrl}/login/oauth/authorize`);
      url.searchParams.set("client_id", config.clientId);
      url.searchParams.set("redirect_uri", redirectUri);
      url.searchParams.set("state", state);
      // The app's permissions decide what the token may do; sign-in needs only who the user is.
      url.searchParams.set("allow_signup", "false");
      return url.toString();
    },

    async signIn({ code, redirectUri }): Promise<ForgeUser> {
      const token = await exchange(code, redirectUri);
      try {
        const answer = await readJson("GitHub user", `${config.apiUrl}/user`, { headers: { ...apiHeaders, authorization: `Bearer ${token}` } });
        const user = answer.body as { id?: unknown; login?: unknown };
        if (answer.status !== 200 || typeof user.id !== "number" || typeof user.login !== "string") {
          throw new SignInError("forge_error", `GitHub did not say who signed in (status ${answer.status})`);
        }
        return { forge: "github", host: config.host, id: String(user.id), login: user.login };
      } finally {
        revokeQuietly(log, "github", `${config.apiUrl}/applications/${encodeURIComponent(config.clientId)}/token`, {
          method: "DELETE",
          headers: { ...apiHeaders, authorization: basic, "content-type": "application/json" },
          body: JSON.stringify({ access_token: token }),
        });
      }
    },
  };
}
