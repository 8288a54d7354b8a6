import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { APP_YML, buildManifest, readAppYml } from "../../../../src/forges/github/manifest.js";
import { createGitHubAppSetup } from "../../../../src/forges/github/setup.js";

describe("the GitHub App manifest", () => {
  it("is found at the package root, next to package.json, from src/ and dist/ alike", () => {
    expect(APP_YML).toBe(path.resolve("app.yml"));
  });

  it("takes name, description, permissions and events from app.yml, the URLs from PUBLIC_URL, and is always private", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "forgebot-manifest-"));
    const file = path.join(dir, "app.yml");
    writeFileSync(file, ["name: bot", "description: A bot.", "url: https://elsewhere.example", "public: true", "hook_attributes:", "  url: https://elsewhere.example/hook", "default_events: [issue_comment]", "default_permissions:", "  issues: write", "  metadata: read", ""].join("\n"));
    const manifest = buildManifest(await readAppYml(file), { publicUrl: "https://bot.example.com/" });
    expect(manifest).toEqual({
      name: "bot",
      url: "https://bot.example.com",
      description: "A bot.",
      hook_attributes: { url: "https://bot.example.com/api/github/webhooks", active: true },
      redirect_url: "https://bot.example.com/setup/github/callback",
      callback_urls: ["https://bot.example.com/auth/github/callback"],
      setup_url: "https://bot.example.com/",
      public: false,
      request_oauth_on_install: false,
      setup_on_update: false,
      default_events: ["issue_comment"],
      default_permissions: { issues: "write", metadata: "read" },
    });
    expect(buildManifest(await readAppYml(file), { publicUrl: "https://bot.example.com", name: "my-bot" }).name).toBe("my-bot");
  });

  it("refuses an app.yml without events or with an unknown permission level, naming the file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "forgebot-manifest-"));
    const file = path.join(dir, "app.yml");
    writeFileSync(file, "name: bot\ndefault_events: []\ndefault_permissions: {}\n");
    await expect(readAppYml(file)).rejects.toThrow(file);
    writeFileSync(file, "name: bot\ndefault_events: [issue_comment]\ndefault_permissions: { issues: everything }\n");
    await expect(readAppYml(file)).rejects.toThrow("default_permissions.issues");
  });

  it("is posted to the account's or the organization's new-app page on GitHub.com or a GHES, with the state", () => {
    const dotcom = createGitHubAppSetup({ host: "github.com", apiUrl: "https://api.github.com", webUrl: "https://github.com" }, "https://bot.example.com");
    expect(dotcom.webOrigin).toBe("https://github.com");
    expect(dotcom.newAppUrl({ kind: "user" }, "s1")).toBe("https://github.com/settings/apps/new?state=s1");
    expect(dotcom.newAppUrl({ kind: "organization", org: "acme" }, "s2")).toBe("https://github.com/organizations/acme/settings/apps/new?state=s2");
    const ghes = createGitHubAppSetup({ host: "ghe.example.com", apiUrl: "https://ghe.example.com/api/v3", webUrl: "https://ghe.example.com" }, "https://bot.example.com");
    expect(ghes.newAppUrl({ kind: "user" }, "s3")).toBe("https://ghe.example.com/settings/apps/new?state=s3");
  });
});
