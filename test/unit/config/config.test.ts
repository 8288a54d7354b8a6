import { describe, expect, it } from "@jest/globals";
import { ConfigError, loadConfig } from "../../../src/config/index.js";
import { testPrivateKey } from "../../helpers/github-app.js";

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("runs with nothing configured: no forges, embedded defaults", () => {
    const config = loadConfig({});
    expect(config.github).toBeNull();
    expect(config.gitlab).toBeNull();
    expect(config.databaseUrl).toBeNull();
    expect(config.redisUrl).toBeNull();
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe("http://localhost:3000");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("change sessions: workspaces under DATA_DIR, the sandbox on, the documented limits", () => {
    const config = loadConfig({ DATA_DIR: "/srv/forgebot" });
    expect(config.workspace).toEqual({ dir: "/srv/forgebot/workspaces", maxBytes: 500 * 1024 * 1024 });
    expect(config.sandbox).toEqual({ mode: "bwrap", commandTimeoutMs: 120_000 });
    expect(config.change).toEqual({ maxFiles: 100, maxPatchBytes: 1024 * 1024, approval: "always" });
    expect(loadConfig({ CHANGE_APPROVAL: "never" }).change.approval).toBe("never");
    expect(loadConfig({ WORKSPACE_DIR: "/var/ws", SANDBOX: "off" })).toMatchObject({ workspace: { dir: "/var/ws" }, sandbox: { mode: "off" } });
  });

  it("builds the GHES base URL from GHE_HOST and GHE_PROTOCOL", () => {
    const config = loadConfig({ APP_ID: "1", PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: "s", GHE_HOST: "ghe.example.com", GHE_PROTOCOL: "http" });
    expect(config.github?.baseUrl).toBe("http://ghe.example.com/api/v3");
    expect(config.github?.host).toBe("ghe.example.com");
  });

  it("accepts a PEM with escaped newlines", () => {
    const escaped = testPrivateKey().replace(/\n/g, "\\n");
    expect(loadConfig({ APP_ID: "1", PRIVATE_KEY: escaped, WEBHOOK_SECRET: "s" }).github?.privateKey).toBe(testPrivateKey());
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ["PORT not a number", { PORT: "eighty" }, /^PORT: expects a whole number from 0 to 65535$/],
    ["PORT out of range", { PORT: "70000" }, /^PORT: /],
    ["LOG_LEVEL unknown", { LOG_LEVEL: "loud" }, /^LOG_LEVEL: expects one of/],
    ["DATABASE_URL not a URL", { DATABASE_URL: "localhost" }, /^DATABASE_URL: expects a postgres/],
    ["GHE_HOST with a scheme", { GHE_HOST: "https://ghe.example.com" }, /^GHE_HOST: /],
    ["GHE_PROTOCOL unknown", { GHE_PROTOCOL: "ftp" }, /^GHE_PROTOCOL: expects http or https$/],
    ["APP_ID not numeric", { APP_ID: "abc" }, /^APP_ID: /],
    ["APP_ID without a key", { APP_ID: "1", WEBHOOK_SECRET: "s" }, /^PRIVATE_KEY: /],
    ["key without a secret", { APP_ID: "1", PRIVATE_KEY: testPrivateKey() }, /^WEBHOOK_SECRET: /],
    ["key that is not PEM", { APP_ID: "1", PRIVATE_KEY: "nope", WEBHOOK_SECRET: "s" }, /^PRIVATE_KEY: expects a PEM/],
    ["unreadable key file", { APP_ID: "1", PRIVATE_KEY_PATH: "/nonexistent/key.pem", WEBHOOK_SECRET: "s" }, /^PRIVATE_KEY_PATH: cannot read/],
    ["GitLab token without secret", { GITLAB_TOKEN: "t" }, /^GITLAB_WEBHOOK_SECRET: /],
    ["GitLab secret without token", { GITLAB_WEBHOOK_SECRET: "s" }, /^GITLAB_TOKEN: /],
    ["SANDBOX unknown", { SANDBOX: "docker" }, /^SANDBOX: expects bwrap or off$/],
    ["SANDBOX_COMMAND_TIMEOUT_MS too short", { SANDBOX_COMMAND_TIMEOUT_MS: "10" }, /^SANDBOX_COMMAND_TIMEOUT_MS: expects a whole number/],
    ["CHANGE_MAX_FILES zero", { CHANGE_MAX_FILES: "0" }, /^CHANGE_MAX_FILES: /],
    ["CHANGE_APPROVAL unknown", { CHANGE_APPROVAL: "sometimes" }, /^CHANGE_APPROVAL: expects always or never$/],
  ];
  it.each(bad)("%s → one line naming the variable", (_name, env, message) => {
    const text = errorOf(env);
    expect(text).toMatch(message);
    expect(text).not.toContain("\n");
  });
});
