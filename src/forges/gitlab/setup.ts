import type { GitLabSetup, GitLabTokenCheck } from "../../sessions/setup-port.js";

/** A check is one page load a person waits on: each request gets this long. */
const CHECK_TIMEOUT_MS = 10_000;

type Answer = { status: number; body: unknown } | { status: "unreachable"; detail: string };

async function get(url: string, token: string): Promise<Answer> {
  try {
    const res = await fetch(url, { headers: { "private-token": token, accept: "application/json", "user-agent": "forgebot" }, redirect: "error", signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // A proxy's HTML error page: the status says enough.
    }
    return { status: res.status, body };
  } catch (err: unknown) {
    return { status: "unreachable", detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The setup page's "Check": who the token belongs to (`GET /api/v4/user`), and when GitLab says
 * (`GET /api/v4/personal_access_tokens/self`, GitLab 15.5+, also for project and group tokens),
 * whether it has the `api` scope the bot needs to post notes. An older GitLab that cannot say
 * leaves the scopes unknown rather than failing the check.
 */
export function createGitLabSetup(options: { url: string; host: string }): GitLabSetup {
  const api = `${options.url.replace(/\/+$/, "")}/api/v4`;
  return {
    url: options.url,
    host: options.host,
    async checkToken(token): Promise<GitLabTokenCheck> {
      const user = await get(`${api}/user`, token);
      if (user.status === "unreachable") return { ok: false, reason: "unreachable", detail: `no answer from ${options.url} (${user.detail})` };
      if (user.status === 401 || user.status === 403) return { ok: false, reason: "refused", detail: `GitLab refused the token (status ${user.status}): it is wrong, expired or revoked` };
      const me = user.body as { id?: unknown; username?: unknown; state?: unknown } | null;
      if (user.status !== 200 || typeof me?.id !== "number" || typeof me.username !== "string") {
        return { ok: false, reason: "unreachable", detail: `${options.url} answered GET /api/v4/user with status ${user.status}; is GITLAB_URL the GitLab's address?` };
      }
      if (typeof me.state === "string" && me.state !== "active") return { ok: false, reason: "blocked", detail: `the token's user @${me.username} is ${me.state} on GitLab` };
      const self = await get(`${api}/personal_access_tokens/self`, token);
      const scopes = self.status === 200 && Array.isArray((self.body as { scopes?: unknown } | null)?.scopes) ? ((self.body as { scopes: unknown[] }).scopes.filter((s) => typeof s === "string") as string[]) : null;
      if (scopes && !scopes.includes("api")) {
        return { ok: false, reason: "scope", detail: `the token of @${me.username} has the scopes ${scopes.join(", ") || "(none)"}, not api: the bot could not post notes` };
      }
      return { ok: true, user: { id: String(me.id), username: me.username }, scopes };
    },
  };
}
