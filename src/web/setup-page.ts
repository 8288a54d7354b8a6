import type { IncomingMessage, ServerResponse } from "node:http";
import type { ForgeName } from "../sessions/forge-port.js";
import type { ForgeStatus } from "../sessions/setup-port.js";
import { OPERATOR_CHALLENGE } from "./access.js";
import { accountBar } from "./account.js";
import { sendJson, wantsJson } from "./http.js";
import {
  configuredForges,
  forgeList,
  requesterOf,
  setupBrowser,
  setupFormToken,
  suggestedGitLabSecret,
  type Requester,
  type SetupContext,
} from "./setup-access.js";
import { handleStatus } from "./status-page.js";
import { renderView, sendHtml, sendMessage } from "./templates.js";

/** What a re-rendered setup page carries back: the GitHub form's values and error, the GitLab check's result. */
export type SetupFeedback = {
  github?: { name?: string; owner?: "user" | "organization"; org?: string; error?: string };
  gitlab?: { ok: boolean; text: string };
};

/** A PUBLIC_URL no forge on the internet can reach: registering works, webhooks would not arrive. */
function publicUrlHint(publicUrl: string): string | null {
  const host = new URL(publicUrl).hostname;
  const local = host === "localhost" || host.endsWith(".localhost") || host.startsWith("127.") || host === "[::1]" || host === "0.0.0.0";
  if (!local) return null;
  return `PUBLIC_URL is ${publicUrl}, which a forge elsewhere cannot reach: its webhooks would not arrive. Set PUBLIC_URL to the address forgebot is reached at (from the internet, or from your GitHub Enterprise Server or GitLab) and restart before registering, unless the forge runs on this machine.`;
}

function configuredText(ctx: SetupContext, status: ForgeStatus | undefined): string | null {
  if (!status) return null;
  const name = ctx.profileFor(status.forge).displayName;
  const how = status.origin === "env" ? "by environment variables (they take precedence over this page)" : `by this page${status.storedAt ? ` on ${status.storedAt.toISOString().slice(0, 10)}` : ""}`;
  return `${name} on ${status.host} is configured ${how}; forgebot answers @${status.handle} there.`;
}

/** Renders the setup page for this browser (setting its setup cookie when it has none). */
export async function sendSetupPage(ctx: SetupContext, req: IncomingMessage, res: ServerResponse, input: { status: number; requester: Requester; configured: readonly ForgeStatus[]; feedback?: SetupFeedback }): Promise<void> {
  const { requester, configured, feedback = {} } = input;
  const browser = setupBrowser(ctx, req, res);
  const find = (forge: ForgeName) => configured.find((f) => f.forge === forge);
  const { github, gitlab } = ctx.setup.registration;
  const defaultName = await github.defaultName().catch((err: unknown) => {
    ctx.log.error({ err }, "app.yml cannot be read; the GitHub App manifest cannot be built");
    return "forgebot";
  });
  const view = {
    handle: configured[0]?.handle ?? ctx.lifecycle.forges.handleFor("github"),
    account: accountBar(ctx, requester.viewer, "/setup"),
    operatorNote: configured.length
      ? `${forgeList(ctx, configured)} ${configured.length === 1 ? "is" : "are"} configured already. As an operator you may register again: new credentials replace the stored ones of that forge, in every process, without a restart.`
      : null,
    publicUrlHint: publicUrlHint(ctx.publicUrl),
    github: {
      configured: configuredText(ctx, find("github")),
      host: github.host,
      webhookUrl: `${ctx.publicUrl}/api/github/webhooks`,
      signInUrl: `${ctx.publicUrl}/auth/github/callback`,
      formToken: setupFormToken(ctx, browser, "github"),
      name: feedback.github?.name ?? defaultName,
      owner: feedback.github?.owner ?? "user",
      org: feedback.github?.org ?? "",
      error: feedback.github?.error ?? null,
    },
    gitlab: {
      configured: configuredText(ctx, find("gitlab")),
      url: gitlab.url,
      webhookUrl: `${ctx.publicUrl}/api/gitlab/webhooks`,
      secret: suggestedGitLabSecret(ctx, browser),
      formToken: setupFormToken(ctx, browser, "gitlab"),
      result: feedback.gitlab ?? null,
    },
  };
  // An operator re-registering a forge the setup page stored keeps its section; one the environment configures cannot be replaced here.
  if (requester.operator) {
    if (find("github")?.origin === "setup") view.github.configured = null;
    if (find("gitlab")?.origin === "setup") view.gitlab.configured = null;
  }
  sendHtml(res, input.status, renderView("setup", view));
}

/**
 * Why a requester may not run the setup now, or null. After the first run only operators may;
 * with ADMIN_TOKEN set, the first run too (the page is then nobody's to take before its owner).
 */
export function setupRefusal(ctx: SetupContext, configured: readonly ForgeStatus[], operator: boolean): "configured" | "token" | null {
  if (operator) return null;
  if (configured.length) return "configured";
  return ctx.adminToken ? "token" : null;
}

/** Answers a refusal of `setupRefusal`: 409 once configured, 401 asking for ADMIN_TOKEN before. */
export function refuseSetup(ctx: SetupContext, res: ServerResponse, configured: readonly ForgeStatus[], reason: "configured" | "token"): void {
  if (reason === "configured") return refuseConfigured(ctx, res, configured);
  sendMessage(
    res,
    401,
    { heading: "Operators only", text: "forgebot is not set up yet, and ADMIN_TOKEN is set: give it as the password (any user name) to open the setup page.", tone: "warn" },
    { "www-authenticate": OPERATOR_CHALLENGE },
  );
}

/** 409: the bot is set up and the requester is no operator. Says how an operator gets in. */
function refuseConfigured(ctx: SetupContext, res: ServerResponse, configured: readonly ForgeStatus[]): void {
  const ways = [ctx.adminUsers.length ? "sign in as a user listed in ADMIN_USERS" : null, ctx.adminToken ? "give the ADMIN_TOKEN" : null].filter(Boolean).join(" or ");
  sendMessage(res, 409, {
    heading: "forgebot is already set up",
    text: `${forgeList(ctx, configured)} ${configured.length === 1 ? "is" : "are"} configured, so the setup page does not run again for just anyone. ${ways ? `To change the set-up, ${ways}.` : "To change the set-up, set ADMIN_TOKEN or ADMIN_USERS and restart, or change the environment variables."}`,
    tone: "warn",
    link: ctx.adminToken ? { href: "/setup?as=operator", text: "Open the setup page as an operator (ADMIN_TOKEN)" } : { href: "/", text: "See the bot's status" },
  });
}

/** `GET /`: the setup page until a forge is configured, then the bot's status. */
export async function handleRoot(ctx: SetupContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const configured = await configuredForges(ctx);
  if (configured.length) return handleStatus(ctx, req, res, configured);
  if (wantsJson(req)) {
    res.setHeader("cache-control", "no-store");
    return sendJson(res, 200, { configured: false, setup: "/setup", forges: [] });
  }
  const requester = await requesterOf(ctx, req, res);
  const refusal = setupRefusal(ctx, configured, requester.operator);
  if (refusal) return refuseSetup(ctx, res, configured, refusal);
  await sendSetupPage(ctx, req, res, { status: 200, requester, configured });
}

/**
 * `GET /setup`: the setup page on a first run (with ADMIN_TOKEN set, for an operator only), or
 * for an operator; otherwise 409. With `?as=operator` and ADMIN_TOKEN set, a browser is asked for
 * the token (Basic, any user name).
 */
export async function handleSetup(ctx: SetupContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const configured = await configuredForges(ctx);
  const requester = await requesterOf(ctx, req, res);
  const refusal = setupRefusal(ctx, configured, requester.operator);
  if (refusal === "configured" && url.searchParams.get("as") === "operator" && ctx.adminToken) {
    return sendMessage(res, 401, { heading: "Operators only", text: "Give the ADMIN_TOKEN as the password (any user name) to open the setup page.", tone: "warn" }, { "www-authenticate": OPERATOR_CHALLENGE });
  }
  if (refusal) return refuseSetup(ctx, res, configured, refusal);
  await sendSetupPage(ctx, req, res, { status: 200, requester, configured });
}
