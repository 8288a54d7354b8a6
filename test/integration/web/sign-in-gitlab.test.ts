import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { RepoVisibility } from "../../../src/sessions/forge-port.js";
import type { Flow } from "../../../src/sessions/flow.js";
import type { Session } from "../../../src/sessions/session.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";
import { authorize, callback, formTokenFor, pageForm, postForm, setCookie, SESSION_COOKIE, signIn, startSignIn } from "../../helpers/sign-in.js";
import { LINK_SECRET, signedPath } from "./support.js";

/**
 * Sign-in with GitLab (an OAuth application, authorization code with PKCE, scope read_user)
 * through FakeGitLab, and GitLab's rules for who may see and act: members for a private
 * project, any signed-in user of that GitLab for an internal one; Developer (30) to act.
 */

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let bot: TestBot;
let fake: FakeGitLab;
let seeded = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  fake = new FakeGitLab();
  nockGitLab(fake);
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    env: {
      GITLAB_URL: FAKE_GITLAB_URL,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: "gitlab-hook-secret",
      GITLAB_NOTES_PER_MINUTE: "10000",
      GITLAB_OAUTH_CLIENT_ID: "fake-gitlab-app",
      GITLAB_OAUTH_CLIENT_SECRET: "fake-gitlab-secret",
    },
  });
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitLab();
  nockGitLab(fake);
});

/** A finished session on merge request !1 of project 5, of the given visibility. */
async function gitlabSession(visibility: RepoVisibility, status: "finished" | "running" = "finished"): Promise<Session> {
  const store = bot.bot.deps.sessions;
  const key = `gitlab-seed-${++seeded}`;
  const { session } = await store.createSession({
    thread: { forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number: 1, visibility },
    triggerKey: key,
    triggerCommentId: key,
    actor: { id: "1", login: "root" },
    command: "chat",
    prompt: "what changed in this merge request",
    flow: "chat",
    parentSessionId: null,
    origin: "mention",
    title: "Add the thing",
    threadUrl: undefined,
    triggerCreatedAt: new Date().toISOString(),
  });
  await store.transition(session.id, "start", { run: 1 });
  if (status === "finished") await store.transition(session.id, "finish");
  return store.getSession(session.id);
}

async function signInAs(id: number, username: string, level: number, options: { external?: boolean } = {}): Promise<{ cookie: string; id: string }> {
  fake.oauthUser = { id, username, ...options };
  fake.members.set(id, level);
  return signIn(bot.baseUrl, "gitlab");
}

const page = async (id: number, cookie?: string) => {
  const res = await fetch(`${bot.baseUrl}${signedPath(id)}`, { headers: cookie ? { cookie } : {} });
  return { status: res.status, html: await res.text() };
};

describe("sign-in with GitLab", () => {
  it("uses PKCE (S256) and the read_user scope, redirects to the exact URI, and revokes the user token", async () => {
    const start = await startSignIn(bot.baseUrl, "gitlab", "/sessions/1?sig=x");
    const url = new URL(start.authorizeUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${FAKE_GITLAB_URL}/oauth/authorize`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: "fake-gitlab-app",
      redirect_uri: "http://forgebot.test/auth/gitlab/callback",
      response_type: "code",
      scope: "read_user",
      code_challenge_method: "S256",
    });
    const { rows } = await database.db.query<{ code_verifier: string }>("SELECT code_verifier FROM sign_in_states WHERE forge = 'gitlab'");
    expect(url.searchParams.get("code_challenge")).toBe(createHash("sha256").update(rows[0]!.code_verifier).digest("base64url"));
    // The verifier never leaves for the browser.
    expect(start.authorizeUrl).not.toContain(rows[0]!.code_verifier);

    const res = await callback(bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/sessions/1?sig=x");
    expect(setCookie(res, SESSION_COOKIE)?.value).toMatch(/^[\w-]{43}$/);
    const token = fake.requests.find((r) => r.path === "/oauth/token")!;
    expect(token.body).toMatchObject({ grant_type: "authorization_code", code_verifier: rows[0]!.code_verifier, redirect_uri: "http://forgebot.test/auth/gitlab/callback" });
    await waitFor("the token's revocation", () => fake.revokedTokens.length === 1);
    expect(fake.oauthTokens.size).toBe(0);
  });

  it("refuses a code whose PKCE verifier does not match, a wrong code, a blocked account, and GitLab failing", async () => {
    const attempt = async (prepare: () => Promise<void> | void, change?: (callbackUrl: URL) => void): Promise<Response> => {
      const start = await startSignIn(bot.baseUrl, "gitlab");
      await prepare();
      const back = await authorize(start.authorizeUrl);
      change?.(back);
      return callback(bot.baseUrl, back, start.browserCookie);
    };
    const cases: [string, () => Promise<Response>][] = [
      ["another verifier", () => attempt(() => database.db.query("UPDATE sign_in_states SET code_verifier = $1", ["B".repeat(43)]).then(() => undefined))],
      ["a wrong code", () => attempt(() => undefined, (u) => u.searchParams.set("code", "nope"))],
    ];
    for (const [what, run] of cases) {
      const answer = await run();
      expect([what, answer.status]).toEqual([what, 400]);
      expect(setCookie(answer, SESSION_COOKIE)).toBeUndefined();
      expect(await answer.text()).toContain("GitLab did not accept this sign-in");
    }
    fake.oauthUser = { id: 66, username: "blocked", state: "blocked" };
    const blocked = await attempt(() => undefined);
    expect(blocked.status).toBe(400);
    expect(setCookie(blocked, SESSION_COOKIE)).toBeUndefined();
    fake.oauthUser = { id: 4001, username: "alice" };
    fake.interceptors.push((r) => (r.path === "/oauth/token" ? [500, { message: "500 Internal Server Error" }] : undefined));
    const down = await attempt(() => undefined);
    expect(down.status).toBe(400);
    expect(await down.text()).toContain("GitLab could not complete the sign-in just now");
    expect(setCookie(down, SESSION_COOKIE)).toBeUndefined();
  });
});

describe("who may see and act on GitLab", () => {
  it("private project: members see (even Guests); others see nothing; only Developers retry, as themselves", async () => {
    const session = await gitlabSession("private");
    expect((await page(session.id)).status).toBe(401);

    const guest = await signInAs(4010, "gus", 10);
    const seen = await page(session.id, guest.cookie);
    expect(seen.status).toBe(200);
    expect(seen.html).toContain("what changed in this merge request");
    expect(pageForm(seen.html, "retry")).toBeNull();
    expect(seen.html).toContain("Only project members with at least the Developer role can retry sessions of gitlab-org/gitlab-test.");

    const outsider = await signInAs(4011, "olga", 0);
    const hidden = await page(session.id, outsider.cookie);
    expect(hidden.status).toBe(403);
    expect(hidden.html).not.toContain("what changed");

    const reporter = await signInAs(4012, "rob", 20);
    const refused = await postForm(`${bot.baseUrl}${signedPath(session.id, "/retry")}`, { token: formTokenFor(LINK_SECRET, reporter.id, `retry:${session.id}`) }, { cookie: reporter.cookie });
    expect(refused.status).toBe(403);

    const developer = await signInAs(4001, "alice", 30);
    const form = pageForm((await page(session.id, developer.cookie)).html, "retry")!;
    const res = await postForm(`${bot.baseUrl}${form.action}`, { token: form.token }, { cookie: developer.cookie });
    expect(res.status).toBe(303);
    const { rows } = await database.db.query<{ id: number; actor_login: string; actor_id: string }>("SELECT id, actor_login, actor_id FROM sessions WHERE parent_session_id = $1", [session.id]);
    expect(rows).toEqual([{ id: expect.any(Number), actor_login: "alice", actor_id: "4001" }]);
    const reply = await waitFor("the retry's reply", () => fake.botNotes({ live: true }).find((n) => n.body.includes(`forgebot:reply session=${rows[0]!.id} `)));
    expect(reply.body).toContain("Retried by @alice");
  });

  it("internal project: any signed-in user of this GitLab sees it, but acting still needs Developer", async () => {
    const session = await gitlabSession("internal", "running");
    expect((await page(session.id)).status).toBe(401);
    const outsider = await signInAs(4020, "nina", 0);
    const seen = await page(session.id, outsider.cookie);
    expect(seen.status).toBe(200);
    expect(pageForm(seen.html, "stop")).toBeNull();
    const stop = await postForm(`${bot.baseUrl}${signedPath(session.id, "/stop")}`, { token: formTokenFor(LINK_SECRET, outsider.id, `stop:${session.id}`) }, { cookie: outsider.cookie });
    expect(stop.status).toBe(403);
    expect((await bot.bot.deps.sessions.getSession(session.id)).status).toBe("running");

    const developer = await signInAs(4001, "alice", 30);
    const form = pageForm((await page(session.id, developer.cookie)).html, "stop")!;
    expect((await postForm(`${bot.baseUrl}${form.action}`, { token: form.token }, { cookie: developer.cookie })).status).toBe(303);
    expect((await bot.bot.deps.sessions.getSession(session.id)).status).toBe("stopped");
  });

  it("internal project: a GitLab external user sees it only as a member", async () => {
    const session = await gitlabSession("internal");
    const external = await signInAs(4030, "ext", 0, { external: true });
    const hidden = await page(session.id, external.cookie);
    expect(hidden.status).toBe(403);
    expect(hidden.html).not.toContain("what changed");

    const externalMember = await signInAs(4031, "extmember", 10, { external: true });
    const seen = await page(session.id, externalMember.cookie);
    expect(seen.status).toBe(200);
    expect(seen.html).toContain("what changed in this merge request");
  });
});
