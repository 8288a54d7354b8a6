import type { IncomingMessage, ServerResponse } from "node:http";
import { FORGE_NAMES, type ForgeName } from "../sessions/forge-port.js";
import { sendJson, wantsJson } from "./http.js";
import { SESSION_STATUSES, type SessionStatus } from "../sessions/state-machine.js";
import type { SessionListFilter } from "../storage/session-views.js";
import { isOperator, OPERATOR_CHALLENGE, parseSessionId, sessionPath } from "./access.js";
import { accountBar } from "./account.js";
import type { SessionWebContext } from "./context.js";
import { dropStaleCookie, findViewer } from "./web-session.js";
import { timeLabel } from "./format.js";
import { renderList, sendHtml, sendMessage } from "./templates.js";

const PAGE_SIZE = 50;

function pick<T extends string>(allowed: readonly T[], value: string | null): T | undefined {
  return allowed.find((a) => a === value);
}

/** Query parameters to a filter; unknown values are ignored rather than refused. */
export function parseListFilter(url: URL): SessionListFilter {
  const repo = url.searchParams.get("repo")?.trim().slice(0, 200);
  const status = pick<SessionStatus>(SESSION_STATUSES, url.searchParams.get("status"));
  const forge = pick<ForgeName>(FORGE_NAMES, url.searchParams.get("forge"));
  const before = parseSessionId(url.searchParams.get("before") ?? undefined);
  return {
    limit: PAGE_SIZE,
    ...(status ? { status } : {}),
    ...(forge ? { forge } : {}),
    ...(repo ? { repo } : {}),
    ...(before ? { beforeId: before } : {}),
  };
}

/**
 * `GET /sessions`: the operators' list, newest first, filtered by status, forge and repository,
 * 50 a page. For `ADMIN_TOKEN` (Bearer, or Basic with the token as password so a browser can
 * ask for it) and for signed-in users listed in `ADMIN_USERS`; with neither configured the list
 * is off. JSON when the client asks for it.
 */
export async function handleSessionList(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (!ctx.adminToken && ctx.adminUsers.length === 0) {
    return sendMessage(res, 403, { heading: "Session list is off", text: "Set ADMIN_TOKEN or ADMIN_USERS to enable the operators' session list.", tone: "warn" });
  }
  const lookup = await findViewer(ctx.webSessions, req);
  dropStaleCookie(ctx.webSessions, res, lookup);
  if (!isOperator(ctx, req, lookup.viewer)) {
    const account = accountBar(ctx, lookup.viewer, "/sessions");
    if (lookup.viewer) {
      return sendMessage(res, 403, { heading: "Operators only", text: `@${lookup.viewer.user.login} is not an operator here (ADMIN_USERS).`, tone: "warn", account });
    }
    const ways = [ctx.adminToken ? "the ADMIN_TOKEN" : null, ctx.adminUsers.length && account ? "a sign-in as an operator listed in ADMIN_USERS" : null].filter(Boolean).join(" or ");
    return sendMessage(res, 401, { heading: "Sign in", text: `The session list needs ${ways || "an operator's sign-in"}.`, tone: "warn", account }, ctx.adminToken ? {
      "www-authenticate": OPERATOR_CHALLENGE,
    } : {});
  }
  const filter = parseListFilter(url);
  const rows = await ctx.views.listSessions(filter);
  const last = rows.length === PAGE_SIZE ? rows[rows.length - 1] : undefined;
  const next = last ? new URL(url) : null;
  next?.searchParams.set("before", String(last?.id));

  if (wantsJson(req)) {
    res.setHeader("cache-control", "no-store");
    return sendJson(res, 200, {
      sessions: rows.map((r) => ({ ...r, url: `${ctx.publicUrl}${sessionPath(ctx.linkSecret, r.id)}` })),
      next: next ? `${next.pathname}${next.search}` : null,
    });
  }
  sendHtml(
    res,
    200,
    renderList({
      statuses: SESSION_STATUSES,
      filter: { status: filter.status, forge: filter.forge, repo: filter.repo },
      rows: rows.map((r) => ({
        id: r.id,
        href: sessionPath(ctx.linkSecret, r.id),
        status: r.status,
        forge: r.forge,
        repo: r.repoPath,
        thread: `${r.threadKind === "issue" ? "issue" : ctx.profileFor(r.forge).changeRequestName} ${ctx.profileFor(r.forge).threadReference(r.threadKind, r.threadNumber)}`,
        actor: r.actor.login,
        origin: r.parentSessionId ? `${r.origin.replace(/_/g, " ")} of ${r.parentSessionId}` : r.origin.replace(/_/g, " "),
        created: timeLabel(r.createdAt),
      })),
      nextHref: next ? `${next.pathname}${next.search}` : null,
    }),
  );
}
