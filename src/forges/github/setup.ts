import { createPrivateKey } from "node:crypto";
import { z } from "zod";
import { SetupError, type GitHubAppCredentials, type GitHubAppSetup } from "../../sessions/setup-port.js";
import { buildManifest, readAppYml, type AppYml } from "./manifest.js";

/** Where the app is registered: GitHub.com or a GHES (`GHE_HOST`, `GHE_PROTOCOL`). */
export type GitHubTarget = { host: string; apiUrl: string; webUrl: string };

/** The conversion is one request a person waits on: it gets this long. */
const CONVERSION_TIMEOUT_MS = 15_000;

const conversionSchema = z.object({
  id: z.number().int().positive(),
  slug: z.string().min(1),
  pem: z.string().min(1),
  webhook_secret: z.string().min(1),
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  html_url: z.string().min(1),
  owner: z.object({ login: z.string() }).nullish(),
});

function isPrivateKey(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === "rsa";
  } catch {
    return false;
  }
}

/**
 * The GitHub App manifest flow (docs: "Registering a GitHub App from a manifest"): the browser
 * posts the manifest to `WEB/settings/apps/new` (or the organization's) with a `state`; GitHub
 * sends it back to the manifest's `redirect_url` with a `code`, which `convert` exchanges, within
 * the hour and once, at `POST API/app-manifests/{code}/conversions` (no authentication) for the
 * app's id, private key, webhook secret and OAuth client.
 */
export function createGitHubAppSetup(target: GitHubTarget, publicUrl: string): GitHubAppSetup {
  let appYml: Promise<AppYml> | null = null;
  // Read once; a failed read is tried again next time (the file may be fixed without a restart).
  const source = () => {
    appYml ??= readAppYml().catch((err: unknown) => {
      appYml = null;
      throw err;
    });
    return appYml;
  };

  return {
    host: target.host,
    webOrigin: new URL(target.webUrl).origin,
    newAppUrl(owner, state) {
      const where = owner.kind === "organization" ? `/organizations/${encodeURIComponent(owner.org)}/settings/apps/new` : "/settings/apps/new";
      const url = new URL(`${target.webUrl}${where}`);
      url.searchParams.set("state", state);
      return url.toString();
    },
    async manifest(name) {
      return buildManifest(await source(), { publicUrl, name });
    },
    async defaultName() {
      return (await source()).name;
    },
    async convert(code) {
      let res: Response;
      try {
        res = await fetch(`${target.apiUrl}/app-manifests/${encodeURIComponent(code)}/conversions`, {
          method: "POST",
          headers: { accept: "application/vnd.github+json", "user-agent": "forgebot", "x-github-api-version": "2022-11-28" },
          redirect: "error",
          signal: AbortSignal.timeout(CONVERSION_TIMEOUT_MS),
        });
      } catch (err: unknown) {
        throw new SetupError("forge_error", "GitHub did not answer the code exchange", { cause: err });
      }
      if (res.status === 404 || res.status === 422) {
        await res.body?.cancel();
        throw new SetupError("refused", `GitHub refused the code (status ${res.status}): wrong, used or older than an hour`);
      }
      if (res.status !== 201 && res.status !== 200) {
        await res.body?.cancel();
        throw new SetupError("forge_error", `GitHub answered the code exchange with status ${res.status}`);
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch (err: unknown) {
        throw new SetupError("forge_error", "GitHub's answer to the code exchange is not JSON", { cause: err });
      }
      // The answer holds the private key: nothing of it goes into an error or a log.
      const parsed = conversionSchema.safeParse(body);
      if (!parsed.success) throw new SetupError("forge_error", `GitHub's answer to the code exchange lacks ${String(parsed.error.issues[0]?.path[0] ?? "a field")}`);
      const app = parsed.data;
      if (!isPrivateKey(app.pem)) throw new SetupError("forge_error", "GitHub's answer to the code exchange holds no usable private key");
      const credentials: GitHubAppCredentials = {
        forge: "github",
        host: target.host,
        apiUrl: target.apiUrl,
        webUrl: target.webUrl,
        appId: String(app.id),
        slug: app.slug,
        clientId: app.client_id,
        htmlUrl: app.html_url,
        owner: app.owner?.login ?? null,
        secrets: { privateKey: app.pem, webhookSecret: app.webhook_secret, clientSecret: app.client_secret },
      };
      return credentials;
    },
  };
}
