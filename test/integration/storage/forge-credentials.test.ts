import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { CredentialsUnreadableError, type GitHubAppCredentials } from "../../../src/sessions/setup-port.js";
import { createForgeCredentialStore } from "../../../src/storage/forge-credentials-store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { testPrivateKey } from "../../helpers/github-app.js";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

const app = (slug: string): GitHubAppCredentials => ({
  forge: "github",
  host: "github.com",
  apiUrl: "https://api.github.com",
  webUrl: "https://github.com",
  appId: "4711",
  slug,
  clientId: "Iv23liabc",
  htmlUrl: `https://github.com/apps/${slug}`,
  owner: "acme",
  secrets: { privateKey: testPrivateKey(), webhookSecret: "whsec-plain-value", clientSecret: "client-secret-plain-value" },
});

describe("forge credentials store", () => {
  it("keeps the public part readable and the secrets sealed; each save bumps the version", async () => {
    const store = createForgeCredentialStore(database.db, "link-secret-a");
    expect(await store.find("github")).toBeNull();
    const saved = await store.save(app("first"), "first_run");
    expect(saved).toMatchObject({ forge: "github", slug: "first", version: 1, storedBy: "first_run", secrets: { webhookSecret: "whsec-plain-value" } });
    const { rows } = await database.db.query("SELECT details, sealed, key_id FROM forge_credentials WHERE forge = 'github'");
    expect(rows[0].details).toEqual({ host: "github.com", apiUrl: "https://api.github.com", webUrl: "https://github.com", appId: "4711", slug: "first", clientId: "Iv23liabc", htmlUrl: "https://github.com/apps/first", owner: "acme" });
    const raw = JSON.stringify(rows[0]) + rows[0].sealed.toString("latin1");
    for (const secret of ["whsec-plain-value", "client-secret-plain-value", "PRIVATE KEY"]) expect(raw).not.toContain(secret);

    const replaced = await store.save(app("second"), "github:octocat");
    expect(replaced).toMatchObject({ slug: "second", version: 2, storedBy: "github:octocat" });
    expect(await store.versions()).toEqual(new Map([["github", 2]]));
    expect(await createForgeCredentialStore(database.db, "link-secret-a").find("github")).toMatchObject({ slug: "second", secrets: { privateKey: testPrivateKey() } });
  });

  it("cannot be opened with another SESSION_LINK_SECRET, nor after being copied into another forge's row", async () => {
    await expect(createForgeCredentialStore(database.db, "link-secret-b").find("github")).rejects.toThrow(CredentialsUnreadableError);
    await expect(createForgeCredentialStore(database.db, "link-secret-b").find("github")).rejects.toThrow("another SESSION_LINK_SECRET");
    // The GitHub secrets pasted under the GitLab name: bound to their row, they do not open there.
    await database.db.query("INSERT INTO forge_credentials (forge, details, sealed, key_id, stored_by) SELECT 'gitlab', details, sealed, key_id, stored_by FROM forge_credentials WHERE forge = 'github'");
    await expect(createForgeCredentialStore(database.db, "link-secret-a").find("gitlab")).rejects.toThrow("do not open");
  });
});
