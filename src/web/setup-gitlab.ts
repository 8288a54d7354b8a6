import type { IncomingMessage, ServerResponse } from "node:http";
import type { GitLabTokenCheck } from "../sessions/setup-port.js";
import { acceptSetupPost, configuredByEnvironment, configuredForges, requesterOf, type SetupContext } from "./setup-access.js";
import { refuseSetup, sendSetupPage, setupRefusal } from "./setup-page.js";
import { sendMessage } from "./templates.js";

/**
 * `POST /setup/gitlab`: "Check" asks GitLab who a pasted token belongs to (and whether it has the
 * `api` scope) and stores nothing; "Check and save" does the same, then stores the token with the
 * webhook's secret token (sealed) and starts answering GitLab, in every process, without a
 * restart. The token is never written back into a page.
 */

const TOKEN = /^[\x21-\x7e]{1,512}$/;
const WEBHOOK_SECRET = /^[A-Za-z0-9_-]{20,128}$/;

function refused(res: ServerResponse, status: number, text: string): void {
  sendMessage(res, status, { heading: "GitLab not connected", text, tone: "warn", link: { href: "/setup", text: "Back to the setup page" } });
}

function checkText(check: GitLabTokenCheck, url: string): string {
  if (check.ok) {
    const scopes = check.scopes ? `scopes ${check.scopes.join(", ")}` : "its scopes could not be read (GitLab before 15.5): make sure it has api";
    return `The token works: it belongs to @${check.user.username} (user ${check.user.id}) on ${url}, ${scopes}.`;
  }
  return `The token will not do: ${check.detail}.`;
}

export async function handleGitLabSetup(ctx: SetupContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const accepted = await acceptSetupPost(ctx, req, "gitlab", (status, reason) =>
    refused(res, status, {
      cross_site: "This request did not come from forgebot's setup page.",
      too_large: "The form was too large.",
      bad_form: "The form is not valid for this browser, or has expired. Reload the setup page and try again.",
    }[reason]),
  );
  if (!accepted) return;
  const { form } = accepted;
  const configured = await configuredForges(ctx);
  const requester = await requesterOf(ctx, req, res);
  if (configuredByEnvironment(configured, "gitlab")) {
    return refused(res, 409, "GitLab is configured by environment variables (GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET), which take precedence over anything this page would store.");
  }
  const refusal = setupRefusal(ctx, configured, requester.operator);
  if (refusal) return refuseSetup(ctx, res, configured, refusal);

  const save = form.get("action") === "save";
  const token = (form.get("gitlab_token") ?? "").trim();
  const webhookSecret = form.get("webhook_secret") ?? "";
  const again = (ok: boolean, text: string) => sendSetupPage(ctx, req, res, { status: ok ? 200 : 400, requester, configured, feedback: { gitlab: { ok, text } } });
  if (!TOKEN.test(token)) return again(false, "Paste the access token: one word, up to 512 characters.");
  if (!WEBHOOK_SECRET.test(webhookSecret)) return again(false, "The webhook's secret token is missing from the form. Reload the setup page and try again.");

  const gitlab = ctx.setup.registration.gitlab;
  const check = await gitlab.checkToken(token);
  const log = ctx.log.child({ forge: "gitlab" });
  log.info({ ok: check.ok, ...(check.ok ? { username: check.user.username } : { reason: check.reason }), save }, "GitLab token checked on the setup page");
  if (!check.ok || !save) return again(check.ok, checkText(check, gitlab.url));

  const status = await ctx.setup.directory.install(
    { forge: "gitlab", url: gitlab.url, host: gitlab.host, userId: check.user.id, username: check.user.username, secrets: { token, webhookSecret } },
    requester.by,
  );
  log.info({ host: gitlab.host, username: check.user.username, by: requester.by }, "GitLab connected on the setup page");
  sendMessage(res, 200, {
    heading: "forgebot is connected to GitLab",
    text: `forgebot answers GitLab webhooks on ${gitlab.url} from now on, as @${status.handle}. Add the webhook (${ctx.publicUrl}/api/gitlab/webhooks, the secret token you copied, Comments and Confidential comments) to each project or group it should serve, and add @${check.user.username} there with the Reporter role or more.`,
    tone: "info",
    link: { href: "/", text: "See the bot's status" },
  });
}
