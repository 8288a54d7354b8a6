import { describe, expect, it } from "@jest/globals";
import { ConfigError, loadConfig } from "../../../src/config/index.js";
import { testPrivateKey } from "../../helpers/github-app.js";

const app = () => ({ APP_ID: "1", PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: "s" });
const gitlab = { GITLAB_TOKEN: "glpat", GITLAB_WEBHOOK_SECRET: "w", GITLAB_URL: "https://gitlab.example.com/" };

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("sign-in configuration", () => {
  it("is off unless a forge's client id and secret are both set", () => {
    const config = loadConfig({ ...app(), ...gitlab });
    expect(config.signIn).toEqual({ github: null, gitlab: null, adminUsers: [], permissionCacheMs: 60_000 });
  });

  it("GitHub: the browser signs in on the web host, the user is read from the REST API; GHES at the host root", () => {
    expect(loadConfig({ ...app(), GITHUB_CLIENT_ID: "Iv1.x", GITHUB_CLIENT_SECRET: "y" }).signIn.github).toEqual({
      clientId: "Iv1.x",
      clientSecret: "y",
      webUrl: "https://github.com",
      apiUrl: "https://api.github.com",
      host: "github.com",
    });
    expect(loadConfig({ ...app(), GHE_HOST: "ghe.example.com:8443", GITHUB_CLIENT_ID: "Iv1.x", GITHUB_CLIENT_SECRET: "y" }).signIn.github).toMatchObject({
      webUrl: "https://ghe.example.com:8443",
      apiUrl: "https://ghe.example.com:8443/api/v3",
      host: "ghe.example.com:8443",
    });
  });

  it("GitLab: the OAuth application on GITLAB_URL", () => {
    expect(loadConfig({ ...gitlab, GITLAB_OAUTH_CLIENT_ID: "a", GITLAB_OAUTH_CLIENT_SECRET: "b" }).signIn.gitlab).toEqual({
      clientId: "a",
      clientSecret: "b",
      url: "https://gitlab.example.com",
      host: "gitlab.example.com",
    });
  });

  it("reads ADMIN_USERS in lower case and bounds the permission cache to a minute", () => {
    const config = loadConfig({ ADMIN_USERS: "github:Octocat, gitlab:root", PERMISSION_CACHE_MS: "5000" });
    expect(config.signIn.adminUsers).toEqual(["github:octocat", "gitlab:root"]);
    expect(config.signIn.permissionCacheMs).toBe(5000);
  });

  const bad: [string, Record<string, string>, string][] = [
    ["a client id without its secret", { ...app(), GITHUB_CLIENT_ID: "Iv1.x" }, "GITHUB_CLIENT_SECRET: expects the OAuth client secret (GITHUB_CLIENT_ID is set)"],
    ["a secret without its client id", { ...gitlab, GITLAB_OAUTH_CLIENT_SECRET: "b" }, "GITLAB_OAUTH_CLIENT_ID: expects the OAuth client id (GITLAB_OAUTH_CLIENT_SECRET is set)"],
    ["GitHub sign-in without the GitHub App", { GITHUB_CLIENT_ID: "Iv1.x", GITHUB_CLIENT_SECRET: "y" }, "GITHUB_CLIENT_ID: sign-in with GitHub needs the GitHub App too"],
    ["GitLab sign-in without GitLab", { GITLAB_OAUTH_CLIENT_ID: "a", GITLAB_OAUTH_CLIENT_SECRET: "b" }, "GITLAB_OAUTH_CLIENT_ID: sign-in with GitLab needs GitLab configured too"],
    ["ADMIN_USERS without a forge", { ADMIN_USERS: "octocat" }, "ADMIN_USERS: expects forge:login entries"],
    ["ADMIN_USERS with an unknown forge", { ADMIN_USERS: "github:octocat,bitbucket:x" }, "ADMIN_USERS: expects forge:login entries"],
    ["a permission cache over a minute", { PERMISSION_CACHE_MS: "120000" }, "PERMISSION_CACHE_MS: expects a whole number from 0 to 60000"],
  ];
  it.each(bad)("refuses %s in one line", (_what, env, message) => {
    expect(errorOf(env)).toContain(message);
  });
});
