import type { ForgeName } from "./forge-port.js";

/**
 * Sign-in through a forge (OAuth authorization code), the port the web's auth routes use and
 * `forges/<forge>/oauth.ts` implements. The web keeps the state, the PKCE verifier and the
 * cookie; the forge side builds the authorize URL and turns a callback's code into who the user
 * is. No forge user token outlives `signIn`: permissions are later asked with the app's own.
 */

/** Who the forge says signed in. `id` is the forge's stable user id, `login` the handle. */
/**
 * A user a forge vouched for at sign-in. `external`: GitLab says so (an external user sees an
 * internal project only where they are a member).
 */
export type ForgeUser = { forge: ForgeName; host: string; id: string; login: string; external?: boolean };

/**
 * Why a code did not become a user: the forge refused the code (wrong, used, expired) or could
 * not be asked (network, 5xx, a malformed answer, a misconfigured app).
 */
export type SignInFailure = "bad_code" | "forge_error";

export class SignInError extends Error {
  override name = "SignInError";
  constructor(
    readonly failure: SignInFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SignInProvider {
  readonly forge: ForgeName;
  /** The forge host users sign in on (github.com, a GHES host, a GitLab host). */
  readonly host: string;
  /** The forge's authorize page for this sign-in; `codeChallenge` is PKCE's S256 challenge. */
  authorizeUrl(request: { state: string; redirectUri: string; codeChallenge: string }): string;
  /**
   * Exchanges the callback's code for a user token, reads the user with it, and lets the token
   * go (revoked when the forge allows). Throws SignInError.
   */
  signIn(callback: { code: string; redirectUri: string; codeVerifier: string }): Promise<ForgeUser>;
}
