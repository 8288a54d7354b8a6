import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/**
 * The GitHub App manifest the setup page registers. `app.yml` (at the package root, in a
 * checkout and in the image alike) is the one source of the app's name, description, permissions
 * and events; the URLs come from PUBLIC_URL, and the app is always private and never asks users
 * for OAuth on install.
 */

export const APP_YML = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../app.yml");

const appYmlSchema = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  default_events: z.array(z.string().min(1)).min(1),
  default_permissions: z.record(z.string(), z.enum(["read", "write", "admin"])),
});

export type AppYml = z.infer<typeof appYmlSchema>;

export type GitHubAppManifest = {
  name: string;
  url: string;
  description?: string;
  hook_attributes: { url: string; active: true };
  redirect_url: string;
  callback_urls: string[];
  setup_url: string;
  public: false;
  request_oauth_on_install: false;
  setup_on_update: false;
  default_events: string[];
  default_permissions: Record<string, string>;
};

/** Reads and checks app.yml; a missing or malformed file is an error naming it. */
export async function readAppYml(file = APP_YML): Promise<AppYml> {
  const text = await readFile(file, "utf8");
  const parsed = appYmlSchema.safeParse(parseYaml(text));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues[0]?.path.join(".") ?? ""} ${parsed.error.issues[0]?.message ?? "is not a GitHub App manifest"}`);
  return parsed.data;
}

/**
 * The manifest for `publicUrl`: GitHub sends webhooks to `/api/github/webhooks`, the browser back
 * to `/setup/github/callback` with the code, sign-in to `/auth/github/callback`, and people who
 * install the app to the status page. Private: anyone installing it could spend this bot's models.
 */
export function buildManifest(source: AppYml, input: { publicUrl: string; name?: string }): GitHubAppManifest {
  const base = input.publicUrl.replace(/\/+$/, "");
  return {
    name: input.name ?? source.name,
    url: base,
    ...(source.description ? { description: source.description } : {}),
    hook_attributes: { url: `${base}/api/github/webhooks`, active: true },
    redirect_url: `${base}/setup/github/callback`,
    callback_urls: [`${base}/auth/github/callback`],
    setup_url: `${base}/`,
    public: false,
    request_oauth_on_install: false,
    setup_on_update: false,
    default_events: [...source.default_events],
    default_permissions: { ...source.default_permissions },
  };
}
