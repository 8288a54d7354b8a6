import type { IncomingMessage, ServerResponse } from "node:http";
import { SetupError, type GitHubAppOwner } from "../sessions/setup-port.js";
import { acceptSetupPost, configuredByEnvironment, configuredForges, existingSetupBrowser, requesterOf, type SetupContext } from "./setup-access.js";
import { refuseSetup, sendSetupPage, setupRefusal } from "./setup-page.js";
import { CONTENT_SECURITY_POLICY, renderView, sendHtml, sendMessage, type MessagePage } from "./templates.js";
import { hashId, isRandomId, newRandomId } from "./web-session.js";

/**
 * "Register forgebot on GitHub": the GitHub App manifest flow in two requests of ours.
 * `POST /setup/github` checks the form, records a `state` bound to this browser (single use,
 * SETUP_STATE_TTL_MS) and answers a page whose plain form posts the manifest to GitHub (no
 * script: the CSP allows that one form target). GitHub sends the browser back to
 * `GET /setup/github/callback?code=&state=`, which takes the state, exchanges the code and
 * stores the app's credentials; the bot answers its webhooks from then on, in every process.
 */

/** From leaving for GitHub to coming back: GitHub's code itself lives an hour. */
export const SETUP_STATE_TTL_MS = 15 * 60_000;

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,33}$/;
const ORG_LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const CODE = /^[A-Za-z0-9_-]{1,256}$/;

const ENV_GITHUB: MessagePage = {
  heading: "GitHub is configured by environment variables",
  text: "APP_ID, PRIVATE_KEY and WEBHOOK_SECRET configure GitHub and take precedence over anything the setup page would store. Unset them and restart to register an app here.",
  tone: "warn",
  link: { href: "/", text: "See the bot's status" },
};

function formRefused(res: ServerResponse, status: number, text: string): void {
  sendMessage(res, status, { heading: "Registration refused", text, tone: "warn", link: { href: "/setup", text: "Back to the setup page" } });
}

/** `POST /setup/github`: the form's name and owner → the page that sends the manifest to GitHub. */
export async function startGitHubSetup(ctx: SetupContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const accepted = await acceptSetupPost(ctx, req, "github", (status, reason) =>
    formRefused(res, status, {
      cross_site: "This registration did not come from forgebot's setup page.",
      too_large: "The registration form was too large.",
      bad_form: "The form is not valid for this browser, or has expired. Reload the setup page and try again.",
    }[reason]),
  );
  if (!accepted) return;
  const { form, browser } = accepted;
  const configured = await configuredForges(ctx);
  const requester = await requesterOf(ctx, req, res);
  if (configuredByEnvironment(configured, "github")) return sendMessage(res, 409, ENV_GITHUB);
  const refusal = setupRefusal(ctx, configured, requester.operator);
  if (refusal) return refuseSetup(ctx, res, configured, refusal);

  const name = (form.get("name") ?? "").trim();
  const ownerKind = form.get("owner") === "organization" ? "organization" : "user";
  const org = (form.get("org") ?? "").trim();
  const again = (error: string) =>
    sendSetupPage(ctx, req, res, { status: 400, requester, configured, feedback: { github: { name: name.slice(0, 34), owner: ownerKind, org: org.slice(0, 39), error } } });
  if (!APP_NAME.test(name)) return again("The app name takes 1 to 34 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.");
  if (ownerKind === "organization" && !ORG_LOGIN.test(org)) return again("Give the organization's login (letters, digits and single dashes, up to 39), as in github.com/ORG.");
  const owner: GitHubAppOwner = ownerKind === "organization" ? { kind: "organization", org } : { kind: "user" };

  const github = ctx.setup.registration.github;
  let manifest: Record<string, unknown>;
  try {
    manifest = await github.manifest(name);
  } catch (err: unknown) {
    ctx.log.error({ err }, "the GitHub App manifest cannot be built from app.yml");
    return sendMessage(res, 500, { heading: "app.yml cannot be read", text: "forgebot builds the GitHub App from app.yml, which is missing or malformed here. The log says why.", tone: "error" });
  }
  const state = newRandomId();
  await ctx.states.deleteExpired();
  await ctx.states.save({
    stateHash: hashId(state),
    browserHash: hashId(browser),
    forge: "github",
    byOperator: requester.operator,
    target: { name, owner: ownerKind, org: ownerKind === "organization" ? org : null, startedBy: requester.by },
    ttlMs: SETUP_STATE_TTL_MS,
  });
  const permissions = Object.entries(manifest.default_permissions as Record<string, string>).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ");
  // The one page whose form leaves this site: to the forge's own "new app" page, nowhere else.
  const csp = CONTENT_SECURITY_POLICY.replace("form-action 'self'", `form-action 'self' ${github.webOrigin}`);
  sendHtml(
    res,
    200,
    renderView("setup-github", {
      account: null,
      name,
      ownerText: owner.kind === "organization" ? `the organization ${owner.org}` : "your personal account",
      host: github.host,
      action: github.newAppUrl(owner, state),
      manifest,
      manifestJson: JSON.stringify(manifest),
      manifestPretty: JSON.stringify(manifest, null, 2),
      permissions,
      minutes: SETUP_STATE_TTL_MS / 60_000,
    }),
    { "content-security-policy": csp },
  );
}

/** `GET /setup/github/callback?code=&state=`: checks the state, exchanges the code, stores the app, answers its webhooks. */
export async function finishGitHubSetup(ctx: SetupContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const log = ctx.log.child({ forge: "github" });
  const fail = (status: number, text: string) => {
    log.info({ status }, "GitHub App registration refused");
    sendMessage(res, status, { heading: "GitHub App not registered", text, tone: "warn", link: { href: "/setup", text: "Back to the setup page" } });
  };
  const browser = existingSetupBrowser(req);
  const state = url.searchParams.get("state") ?? "";
  if (!browser) return fail(400, "This registration was not started in this browser, or its cookie has expired. Start again from the setup page.");
  const taken = isRandomId(state) ? await ctx.states.take(hashId(state), hashId(browser), "github") : null;
  if (!taken) {
    return fail(400, "This registration link is not valid: it was already used, has expired, or was not started in this browser. Nothing was stored. Start again from the setup page (if GitHub created an app meanwhile, delete it in GitHub's settings).");
  }
  const configured = await configuredForges(ctx);
  if (configuredByEnvironment(configured, "github")) return sendMessage(res, 409, ENV_GITHUB);
  const refusal = setupRefusal(ctx, configured, taken.byOperator);
  if (refusal) return refuseSetup(ctx, res, configured, refusal);
  const code = url.searchParams.get("code") ?? "";
  if (!CODE.test(code)) return fail(400, "GitHub sent no registration code. Start again from the setup page.");

  let credentials;
  try {
    credentials = await ctx.setup.registration.github.convert(code);
  } catch (err: unknown) {
    if (!(err instanceof SetupError)) throw err;
    log.warn({ err, failure: err.failure }, "GitHub App manifest code exchange failed");
    if (err.failure === "refused") return fail(400, "GitHub did not accept the registration code: it is wrong, was used already, or is older than an hour. Nothing was stored. Start again from the setup page.");
    return fail(502, "GitHub could not finish the registration just now. Nothing was stored; start again from the setup page in a moment.");
  }
  const status = await ctx.setup.directory.install(credentials, taken.target.startedBy);
  log.info({ appId: credentials.appId, slug: credentials.slug, host: credentials.host, owner: credentials.owner, by: taken.target.startedBy }, "GitHub App registered on the setup page");
  sendMessage(res, 200, {
    heading: "forgebot is registered on GitHub",
    text: `The GitHub App ${credentials.slug}${credentials.owner ? ` of ${credentials.owner}` : ""} is registered, and forgebot answers its webhooks from now on as @${status.handle}. Install the app on the repositories it should serve, then write @${status.handle} in an issue or a pull request.`,
    tone: "info",
    link: { href: `${credentials.htmlUrl}/installations/new`, text: "Install the app on GitHub" },
  });
}
