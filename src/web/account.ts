import { FORGE_NAMES, type ForgeName, type ForgeProfile } from "../sessions/forge-port.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import type { AccountBar } from "./templates.js";
import { signInHref } from "./viewing.js";
import { formToken, type Viewer, type WebSessionSettings } from "./web-session.js";

export type AccountContext = {
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  webSessions: WebSessionSettings;
  profileFor(name: ForgeName): ForgeProfile;
};

/**
 * The header's account part for `viewer` on a page at `returnTo`: who is signed in and a Sign
 * out form, or a link per forge with sign-in. Null where nobody can sign in at all.
 */
export function accountBar(ctx: AccountContext, viewer: Viewer | null, returnTo: string): AccountBar | null {
  if (viewer) {
    return {
      user: { login: viewer.user.login, forge: ctx.profileFor(viewer.user.forge).displayName },
      logout: { token: formToken(ctx.webSessions, viewer, "logout"), returnTo },
      signIn: [],
    };
  }
  const signIn = FORGE_NAMES.filter((f) => ctx.signIns[f]).map((f) => ({ href: signInHref(f, returnTo), text: `Sign in with ${ctx.profileFor(f).displayName}` }));
  return signIn.length ? { user: null, logout: null, signIn } : null;
}
