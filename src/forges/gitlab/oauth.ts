import type { Logger } from "pino";
import type { GitLabSignInConfig } from "../../config/index.js";
import { SignInError, type ForgeUser, type SignInProvider } from "../../sessions/sign-in-port.js";
import { formBody, readJson, revokeQuietly } from "../oauth-http.js";

/**
 * Sign-in with GitLab: an OAuth application, authorization code with PKCE (S256) and the
 * `read_user` scope. `GITLAB_URL/oauth/authorize`, `POST GITLAB_URL/oauth/token`, then
 * `GET /api/v4/user` with the user token, which is revoked right after (`POST /oauth/revoke`).
 * GitLab answers a bad code or verifier with 400 `invalid_grant`.
 */
export function createGitLabSignIn(config: GitLabSignInConfig, log: Logger): SignInProvider {
  const client = { client_id: config.clientId, client_secret: config.clientSecret };

  async function exchange(code: string, redirectUri: string, codeVerifier: string): Promise<string> {
    const answer = await readJson("GitLab token exchange", `${config.url}/oauth/token`, {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
      body: formBody({ ...client, code, grant_type: "authorization_code", redirect_uri: redirectUri, code_verifier: codeVerifier }),
    });
    const body = answer.body as { access_token?: unknown; error?: unknown };
    if (answer.status === 200 && typeof body.access_token === "string" && body.access_token) return body.access_token;
    if (body.error === "invalid_grant") throw new SignInError("bad_code", "GitLab refused the code: it is wrong, used or expired");
    // invalid_client, unauthorized_client…: the application is set up wrongly.
    throw new SignInError("forge_error", `GitLab refused the token exchange: ${String(body.error ?? `status ${answer.status}`)}`);
  }

  return {
    forge: "gitlab",
    host: config.host,
    authorizeUrl({ state, redirectUri, codeChallenge }) {
      const url = new URL(`${config.url}/oauth/authorize`);
      url.searchParams.set("client_id", config.clientId);
      url.searchParams.set("redirect_uri", redirectUri);
      url.searchParams.set("response_type", "code");
      url.searchParams.set("state", state);
      url.searchParams.set("scope", "read_user");
      url.searchParams.set("code_challenge", codeChallenge);
      url.searchParams.set("code_challenge_method", "S256");
      return url.toString();
    },

    async signIn({ code, redirectUri, codeVerifier }): Promise<ForgeUser> {
      const token = await exchange(code, redirectUri, codeVerifier);
      try {
        const answer = await readJson("GitLab user", `${config.url}/api/v4/user`, { headers: { accept: "application/json", authorization: `Bearer ${token}` } });
        const user = answer.body as { id?: unknown; username?: unknown; state?: unknown; external?: unknown };
        if (answer.status !== 200 || typeof user.id !== "number" || typeof user.username !== "string") {
          throw new SignInError("forge_error", `GitLab did not say who signed in (status ${answer.status})`);
        }
        // A blocked or deactivated account may still hold a token for a moment; it signs in nobody.
        if (user.state !== undefined && user.state !== "active") throw new SignInError("bad_code", "the GitLab account is not active");
        return { forge: "gitlab", host: config.host, id: String(user.id), login: user.username, ...(user.external === true ? { external: true } : {}) };
      } finally {
        revokeQuietly(log, "gitlab", `${config.url}/oauth/revoke`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: formBody({ ...client, token }),
        });
      }
    },
  };
}
