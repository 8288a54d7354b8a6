import type { IncomingMessage, ServerResponse } from "node:http";
import { FORGE_NAMES } from "../sessions/forge-port.js";
import type { ForgeStatus } from "../sessions/setup-port.js";
import { sessionPath } from "./access.js";
import { accountBar } from "./account.js";
import { timeLabel } from "./format.js";
import { sendJson, wantsJson } from "./http.js";
import { requesterOf, type SetupContext } from "./setup-access.js";
import { within } from "./time-limit.js";
import { renderView, sendHtml } from "./templates.js";

/** How many sessions the status page lists for operators (the full list is /sessions). */
const RECENT_SESSIONS = 10;
/** The queue answers within this, or the page says it did not. */
const QUEUE_TIMEOUT_MS = 2000;

type QueueRow = { name: string; waiting: number; active: number; delayed: number; failed: number };

async function queueRows(ctx: SetupContext): Promise<QueueRow[] | null> {
  try {
    const counts = await within(ctx.setup.queueCounts(), QUEUE_TIMEOUT_MS, () => null);
    if (!counts) return null;
    // Jobs with a priority are counted apart by BullMQ; they wait all the same.
    return Object.entries(counts).map(([name, c]) => ({ name, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 }));
  } catch (err: unknown) {
    ctx.log.warn({ err }, "queue counts for the status page failed");
    return null;
  }
}

/** What the page and its JSON say of a forge: public facts only, never a secret. */
function forgeFacts(ctx: SetupContext, status: ForgeStatus) {
  return {
    forge: status.forge,
    host: status.host,
    handle: status.handle,
    origin: status.origin,
    app: status.app,
    botUser: status.botUser,
    storedAt: status.storedAt?.toISOString() ?? null,
    webhookUrl: `${ctx.publicUrl}/api/${status.forge}/webhooks`,
  };
}

/**
 * `GET /` once a forge is configured: the forges and how they were configured, the queue's
 * counts, and for operators (ADMIN_TOKEN, ADMIN_USERS) the latest sessions. JSON with
 * `Accept: application/json`. Holds no secret: ForgeStatus carries none.
 */
export async function handleStatus(ctx: SetupContext, req: IncomingMessage, res: ServerResponse, configured: readonly ForgeStatus[]): Promise<void> {
  const requester = await requesterOf(ctx, req, res);
  const [queues, rows] = await Promise.all([queueRows(ctx), requester.operator ? ctx.views.listSessions({ limit: RECENT_SESSIONS }) : Promise.resolve(null)]);
  const sessions =
    rows?.map((r) => {
      const profile = ctx.profileFor(r.forge);
      return {
        id: r.id,
        href: sessionPath(ctx.linkSecret, r.id),
        status: r.status,
        forge: r.forge,
        repo: r.repoPath,
        thread: `${r.threadKind === "issue" ? "issue" : profile.changeRequestName} ${profile.threadReference(r.threadKind, r.threadNumber)}`,
        actor: r.actor.login,
        created: timeLabel(r.createdAt),
      };
    }) ?? null;

  if (wantsJson(req)) {
    res.setHeader("cache-control", "no-store");
    return sendJson(res, 200, {
      configured: true,
      forges: configured.map((f) => forgeFacts(ctx, f)),
      queues,
      ...(sessions ? { sessions: sessions.map((s) => ({ ...s, url: `${ctx.publicUrl}${s.href}` })) } : {}),
    });
  }
  const missing = FORGE_NAMES.filter((name) => !configured.some((f) => f.forge === name)).map(
    (name) => `${ctx.profileFor(name).displayName}: not configured${requester.operator ? "; add it on the setup page" : ""}.`,
  );
  sendHtml(
    res,
    200,
    renderView("status", {
      account: accountBar(ctx, requester.viewer, "/"),
      forges: configured.map((f) => ({
        name: ctx.profileFor(f.forge).displayName,
        host: f.host,
        handle: f.handle,
        origin: f.origin === "env" ? "configured by environment variables" : `registered on the setup page${f.storedAt ? ` on ${f.storedAt.toISOString().slice(0, 10)}` : ""}`,
        app: f.app ? { text: f.app.slug ?? `app ${f.app.id}`, href: f.app.htmlUrl } : f.botUser ? { text: `bot user @${f.botUser.username}`, href: null } : null,
        installHref: f.app?.htmlUrl ? `${f.app.htmlUrl}/installations/new` : null,
        webhookUrl: `${ctx.publicUrl}/api/${f.forge}/webhooks`,
      })),
      missing,
      queues,
      sessions,
      sessionsHint:
        ctx.adminToken || ctx.adminUsers.length
          ? "Operators (ADMIN_TOKEN, or a sign-in as a user listed in ADMIN_USERS) see the latest sessions here."
          : "Set ADMIN_TOKEN or ADMIN_USERS to see the latest sessions here.",
    }),
  );
}
