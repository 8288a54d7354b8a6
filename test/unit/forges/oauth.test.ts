import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { createGitHubSignIn } from "../../../src/forges/github/oauth.js";
import { createGitLabSignIn } from "../../../src/forges/gitlab/oauth.js";
import { createLogger } from "../../../src/logging/logger.js";
import { SignInError } from "../../../src/sessions/sign-in-port.js";

/** The forges' halves of sign-in, against nock: exact endpoints, headers and bodies, and how failures read. */

const log = createLogger("silent");
const REDIRECT = "https://forgebot.example.com/auth/github/callback";

beforeEach(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

async function settled(scope: nock.Scope): Promise<void> {
  for (let i = 0; i < 100 && !scope.isDone(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(scope.pendingMocks()).toEqual([]);
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(SignInError);
  return (err as SignInError).failure;
}

describe("GitHub sign-in", () => {
  const githubCom = { clientId: "Iv1.abc", clientSecret: "shh", webUrl: "https://github.com", apiUrl: "https://api.github.com", host: "github.com" };
  const ghes = { clientId: "Iv1.ghes", clientSecret: "shh", webUrl: "http://ghe.example.com", apiUrl: "http://ghe.example.com/api/v3", host: "ghe.example.com" };

  it("sends the browser to /login/oauth/authorize on the web host with the client, exact redirect URI and state", () => {
    const url = new URL(createGitHubSignIn(githubCom, log).authorizeUrl({ state: "s1", redirectUri: REDIRECT, codeChallenge: "c" }));
    expect(`${url.origin}${url.pathname}`).toBe("https://github.com/login/oauth/authorize");
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: "Iv1.abc", redirect_uri: REDIRECT, state: "s1", allow_signup: "false" });
    const onGhes = new URL(createGitHubSignIn(ghes, log).authorizeUrl({ state: "s1", redirectUri: REDIRECT, codeChallenge: "c" }));
    expect(`${onGhes.origin}${onGhes.pathname}`).toBe("http://ghe.example.com/login/oauth/authorize");
  });

  it("on GHES exchanges the code at the host root (not /api/v3) asking for JSON, reads GET /api/v3/user, then revokes the token", async () => {
    const web = nock("http://ghe.example.com", { reqheaders: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" } })
      .post("/login/oauth/access_token", { client_id: "Iv1.ghes", client_secret: "shh", code: "the-code", redirect_uri: REDIRECT })
      .reply(200, { access_token: "ghu_token", token_type: "bearer" });
    const api = nock("http://ghe.example.com")
      .get("/api/v3/user")
      .matchHeader("authorization", "Bearer ghu_token")
      .reply(200, { id: 42, login: "mona" })
      .delete("/api/v3/applications/Iv1.ghes/token", { access_token: "ghu_token" })
      .matchHeader("authorization", `Basic ${Buffer.from("Iv1.ghes:shh").toString("base64")}`)
      .reply(204);
    const user = await createGitHubSignIn(ghes, log).signIn({ code: "the-code", redirectUri: REDIRECT, codeVerifier: "v" });
    expect(user).toEqual({ forge: "github", host: "ghe.example.com", id: "42", login: "mona" });
    expect(web.isDone()).toBe(true);
    await settled(api);
  });

  it("reads GitHub's 200-with-error answers and its failures", async () => {
    const signIn = () => createGitHubSignIn(githubCom, log).signIn({ code: "c", redirectUri: REDIRECT, codeVerifier: "v" });
    nock("https://github.com").post("/login/oauth/access_token").reply(200, { error: "bad_verification_code" });
    expect(await failure(signIn())).toBe("bad_code");
    nock("https://github.com").post("/login/oauth/access_token").reply(200, { error: "incorrect_client_credentials" });
    expect(await failure(signIn())).toBe("forge_error");
    nock("https://github.com").post("/login/oauth/access_token").reply(503, "unavailable");
    expect(await failure(signIn())).toBe("forge_error");
    nock("https://github.com").post("/login/oauth/access_token").reply(200, "access_token=x&token_type=bearer");
    expect(await failure(signIn())).toBe("forge_error");
    nock("https://github.com").post("/login/oauth/access_token").replyWithError("connection reset");
    expect(await failure(signIn())).toBe("forge_error");
    nock("https://github.com").post("/login/oauth/access_token").reply(200, { access_token: "t" });
    const api = nock("https://api.github.com").get("/user").reply(401, { message: "Bad credentials" }).delete("/applications/Iv1.abc/token").reply(204);
    expect(await failure(signIn())).toBe("forge_error");
    await settled(api);
  });
});

describe("GitLab sign-in", () => {
  const config = { clientId: "app-id", clientSecret: "app-secret", url: "https://gitlab.example.com/gitlab", host: "gitlab.example.com" };
  const redirect = "https://forgebot.example.com/auth/gitlab/callback";

  it("asks for the code with PKCE S256 and only read_user, under GITLAB_URL's path", () => {
    const url = new URL(createGitLabSignIn(config, log).authorizeUrl({ state: "s1", redirectUri: redirect, codeChallenge: "challenge" }));
    expect(`${url.origin}${url.pathname}`).toBe("https://gitlab.example.com/gitlab/oauth/authorize");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: "app-id",
      redirect_uri: redirect,
      response_type: "code",
      state: "s1",
      scope: "read_user",
      code_challenge: "challenge",
      code_challenge_method: "S256",
    });
  });

  it("exchanges the code with its verifier, reads /api/v4/user with the token, then revokes it", async () => {
    const scope = nock("https://gitlab.example.com")
      .post("/gitlab/oauth/token", { client_id: "app-id", client_secret: "app-secret", code: "c0de", grant_type: "authorization_code", redirect_uri: redirect, code_verifier: "verifier" })
      .reply(200, { access_token: "glo_t", token_type: "Bearer" })
      .get("/gitlab/api/v4/user")
      .matchHeader("authorization", "Bearer glo_t")
      .reply(200, { id: 7, username: "alice", state: "active" })
      .post("/gitlab/oauth/revoke", { client_id: "app-id", client_secret: "app-secret", token: "glo_t" })
      .reply(200, {});
    expect(await createGitLabSignIn(config, log).signIn({ code: "c0de", redirectUri: redirect, codeVerifier: "verifier" })).toEqual({
      forge: "gitlab",
      host: "gitlab.example.com",
      id: "7",
      login: "alice",
    });
    await settled(scope);
  });

  it("reads invalid_grant as a bad code, and a blocked account, a misconfigured app or a 5xx as refusals", async () => {
    const signIn = () => createGitLabSignIn(config, log).signIn({ code: "c", redirectUri: redirect, codeVerifier: "v" });
    nock("https://gitlab.example.com").post("/gitlab/oauth/token").reply(400, { error: "invalid_grant" });
    expect(await failure(signIn())).toBe("bad_code");
    nock("https://gitlab.example.com").post("/gitlab/oauth/token").reply(401, { error: "invalid_client" });
    expect(await failure(signIn())).toBe("forge_error");
    nock("https://gitlab.example.com").post("/gitlab/oauth/token").reply(502, "<html>bad gateway</html>");
    expect(await failure(signIn())).toBe("forge_error");
    const blocked = nock("https://gitlab.example.com")
      .post("/gitlab/oauth/token")
      .reply(200, { access_token: "glo_b" })
      .get("/gitlab/api/v4/user")
      .reply(200, { id: 8, username: "mallory", state: "blocked" })
      .post("/gitlab/oauth/revoke")
      .reply(200, {});
    expect(await failure(signIn())).toBe("bad_code");
    await settled(blocked);
  });
});
