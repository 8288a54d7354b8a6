import type { ForgeName } from "./forge-port.js";

/**
 * First run: the ports the setup page uses. The forges implement registration (the GitHub App
 * manifest flow, a GitLab token check); storage keeps what was registered, its secrets sealed;
 * the forge registry builds a forge from it while the bot runs, in every process. A page only
 * ever sees the public part of credentials (`ForgeStatus`), never `secrets`.
 */

/** A GitHub App as the manifest flow's conversion returns it (`POST /app-manifests/{code}/conversions`). */
export type GitHubAppCredentials = {
  forge: "github";
  /** github.com or the GHES host. */
  host: string;
  /** REST base: https://api.github.com or {protocol}://{host}/api/v3. */
  apiUrl: string;
  /** Where browsers go: https://github.com or {protocol}://{host}. */
  webUrl: string;
  appId: string;
  slug: string;
  clientId: string;
  /** The app's page on GitHub (`…/apps/<slug>`). */
  htmlUrl: string;
  /** The account that owns the app: a user or an organization. */
  owner: string | null;
  secrets: { privateKey: string; webhookSecret: string; clientSecret: string };
};

/** A GitLab bot user: the instance, who the token belongs to, and the webhook's secret token. */
export type GitLabCredentials = {
  forge: "gitlab";
  url: string;
  host: string;
  userId: string;
  username: string;
  secrets: { token: string; webhookSecret: string };
};

export type ForgeCredentials = GitHubAppCredentials | GitLabCredentials;

/** Credentials as stored: which save they come from and who made it. */
export type StoredCredentials = ForgeCredentials & { version: number; storedAt: Date; storedBy: string };

/** The stored secrets could not be opened: sealed with another key (SESSION_LINK_SECRET changed) or damaged. */
export class CredentialsUnreadableError extends Error {
  override name = "CredentialsUnreadableError";
}

/** Forge credentials registered through the setup page, secrets sealed at rest. */
export interface CredentialStore {
  /** Each stored forge's version: a cheap read processes repeat to notice a new or replaced forge. */
  versions(): Promise<Map<ForgeName, number>>;
  /** Null when nothing is stored for `forge`; throws CredentialsUnreadableError when it cannot be opened. */
  find(forge: ForgeName): Promise<StoredCredentials | null>;
  /** Stores (or replaces) a forge's credentials; the version goes up. */
  save(credentials: ForgeCredentials, storedBy: string): Promise<StoredCredentials>;
}

/** What a page may say about a forge the bot answers: never a secret. */
export type ForgeStatus = {
  forge: ForgeName;
  /** `env`: configured by environment variables; `setup`: stored by the setup page. */
  origin: "env" | "setup";
  host: string;
  /** The handle people mention. */
  handle: string;
  app: { id: string; slug: string | null; htmlUrl: string | null; owner: string | null } | null;
  botUser: { id: string; username: string } | null;
  storedAt: Date | null;
  storedBy: string | null;
};

/** The forges this bot answers, and adding one while it runs. */
export interface ForgeDirectory {
  /** The configured forges; `fresh` reads the store first (another process may have stored some). */
  status(options?: { fresh?: boolean }): Promise<ForgeStatus[]>;
  /**
   * Stores a forge's credentials and starts answering it in this process before returning;
   * other processes pick them up when they next miss the forge or check the store's version.
   */
  install(credentials: ForgeCredentials, storedBy: string): Promise<ForgeStatus>;
}

/** Why registering did not work: the forge refused what it was given, or could not be asked. */
export type SetupFailure = "refused" | "forge_error";

export class SetupError extends Error {
  override name = "SetupError";
  constructor(
    readonly failure: SetupFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The account a GitHub App is registered on: the signed-in user's, or an organization's. */
export type GitHubAppOwner = { kind: "user" } | { kind: "organization"; org: string };

/** The GitHub App manifest flow, as the setup page drives it. */
export interface GitHubAppSetup {
  readonly host: string;
  /** The origin the browser posts the manifest to (the page's CSP must allow the form to go there). */
  readonly webOrigin: string;
  /** `…/settings/apps/new?state=` or `…/organizations/ORG/settings/apps/new?state=`. */
  newAppUrl(owner: GitHubAppOwner, state: string): string;
  /** The manifest, from app.yml with PUBLIC_URL's routes filled in, under `name`. */
  manifest(name: string): Promise<Record<string, unknown>>;
  /** app.yml's name: the default on the form. */
  defaultName(): Promise<string>;
  /** Exchanges the redirect's code. Throws SetupError (`refused`: wrong, used or expired code). */
  convert(code: string): Promise<GitHubAppCredentials>;
}

/** What a GitLab token check found: the token's user, or why it will not do. */
export type GitLabTokenCheck =
  | { ok: true; user: { id: string; username: string }; scopes: readonly string[] | null }
  | { ok: false; reason: "refused" | "blocked" | "scope" | "unreachable"; detail: string };

/** Checking a GitLab token for the setup page (`GET /user` against GITLAB_URL). */
export interface GitLabSetup {
  readonly url: string;
  readonly host: string;
  checkToken(token: string): Promise<GitLabTokenCheck>;
}

export type ForgeSetup = { github: GitHubAppSetup; gitlab: GitLabSetup };
