import type { IncomingMessage, ServerResponse } from "node:http";
import { header, sendJson } from "./http.js";
import { hasReplied } from "../sessions/obligations.js";
import { sessionVisibility } from "../sessions/session.js";
import { isTerminal } from "../sessions/state-machine.js";
import type { TimelineCursor } from "../storage/session-views.js";
import { signedSessionId } from "./access.js";
import { advance, hrefFor, summaryFor, type SessionWebContext } from "./context.js";
import { refusalJson } from "./session-api.js";
import { renderItem, renderSummary } from "./templates.js";
import { timelineItems } from "./timeline.js";
import { decideView, type Viewing } from "./viewing.js";

/**
 * `GET /sessions/:id/events?sig=…`: Server-Sent Events for the page. Each open stream polls a
 * cheap probe of the session (status, heartbeat, last event id, last checkpoint seq) and, on a
 * change, sends new timeline items (`item`) and the re-rendered summary (`summary`). It ends
 * (`end`) once the session has ended and its reply is delivered. Streams are capped in number
 * and lifetime (the browser reconnects with Last-Event-ID), and `closeAll` ends them on shutdown.
 * Who may open one is the page's rule (viewing.ts); for a session that is not public it is asked
 * again (cached up to a minute) before each change is sent, and a viewer who lost access or
 * signed out gets `end` with reason `forbidden`.
 */

export type StreamSettings = {
  pollMs: number;
  maxStreams: number;
  /** A stream is closed after this long; EventSource reconnects where it left off. */
  maxStreamMs: number;
  keepaliveMs: number;
  /** How long after the end a stream waits for the reply to be delivered. */
  deliveryGraceMs: number;
};

export const DEFAULT_STREAM_SETTINGS: StreamSettings = {
  pollMs: 500,
  maxStreams: 200,
  maxStreamMs: 10 * 60_000,
  keepaliveMs: 15_000,
  deliveryGraceMs: 60_000,
};

export type SessionStreams = {
  handle(req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void>;
  /** Ends every open stream (server shutdown). */
  closeAll(): void;
};

/** `after=<eventId>.<seq>` or a Last-Event-ID of the same form; anything else starts at 0.0. */
export function parseCursor(raw: string | null | undefined): TimelineCursor {
  const m = /^(\d{1,15})\.(\d{1,9})$/.exec(raw ?? "");
  return m ? { eventId: Number(m[1]), seq: Number(m[2]) } : { eventId: 0, seq: 0 };
}

export function createSessionStreams(ctx: SessionWebContext, settings: StreamSettings = DEFAULT_STREAM_SETTINGS): SessionStreams {
  const open = new Set<() => void>();

  async function handle(req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
    const id = signedSessionId(ctx.linkSecret, rawId, url);
    const opened = id === null ? null : await ctx.lifecycle.sessions.findSession(id);
    if (id === null || !opened) return sendJson(res, 404, { error: "not found" });
    const sessionId = id;
    const decision = await decideView(ctx, req, opened);
    if (decision.kind !== "show") {
      const refusal = refusalJson(ctx, opened, decision);
      res.setHeader("cache-control", "no-store");
      return sendJson(res, refusal.status, refusal.body);
    }
    let viewing: Viewing = decision.viewing;
    const guarded = sessionVisibility(opened) !== "public";
    if (open.size >= settings.maxStreams) {
      res.setHeader("retry-after", "10");
      return sendJson(res, 503, { error: "too many open session streams" });
    }
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      "x-content-type-options": "nosniff",
    };
    if (req.method === "HEAD") {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    let cursor = parseCursor(header(req, "last-event-id") ?? url.searchParams.get("after"));
    const log = ctx.log.child({ sessionId });
    const openedAt = Date.now();
    let lastWrite = openedAt;
    let lastKey = "";
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    /** handle() has just decided the view: the first change sent needs no second decision. */
    let decided = true;

    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      open.delete(close);
      res.end();
    };
    const send = (event: string, data: unknown, eventId?: string) => {
      if (closed) return;
      lastWrite = Date.now();
      res.write(`${eventId ? `id: ${eventId}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };

    /** One poll: sends what changed; true once the stream is done. */
    async function tick(): Promise<boolean> {
      const pulse = await ctx.views.findPulse(sessionId);
      if (!pulse) {
        send("end", { reason: "gone" });
        return true;
      }
      const key = `${pulse.status}|${pulse.updatedAt.getTime()}|${pulse.cursor.eventId}|${pulse.cursor.seq}`;
      if (key === lastKey) return false;
      // The session first, then its timeline: an event recorded before the session row changed
      // (the reply's event precedes its id) is always sent before the stream ends.
      const summary = await ctx.views.findSummary(sessionId);
      if (guarded) {
        const again = !summary ? null : decided ? decision : await decideView(ctx, req, summary.session, { count: false });
        decided = false;
        if (again?.kind !== "show") {
          send("end", { reason: "forbidden" });
          return true;
        }
        viewing = again.viewing;
      }
      if (!summary) return false;
      const timeline = await ctx.views.findTimelineAfter(sessionId, cursor);
      for (const item of timelineItems(timeline, hrefFor(ctx))) {
        const n = Number(item.key.slice(1));
        cursor = item.key.startsWith("e") ? { ...cursor, eventId: Math.max(cursor.eventId, n) } : { ...cursor, seq: Math.max(cursor.seq, n) };
        send("item", { key: item.key, html: renderItem(item) }, `${cursor.eventId}.${cursor.seq}`);
      }
      cursor = advance(cursor, timeline);
      const view = await summaryFor(ctx, summary, viewing);
      send("summary", { status: view.status, statusLabel: view.statusLabel, terminal: view.terminal, html: renderSummary(view) });
      lastKey = key;
      const { session } = summary;
      const graceOver = session.finishedAt !== null && Date.now() - session.finishedAt.getTime() > settings.deliveryGraceMs;
      if (!isTerminal(session.status) || !(hasReplied(session) || graceOver)) return false;
      send("end", { status: session.status });
      return true;
    }

    function poll(): void {
      tick()
        .then((done) => {
          if (closed) return;
          if (done || Date.now() - openedAt > settings.maxStreamMs) return close();
          if (Date.now() - lastWrite > settings.keepaliveMs) {
            lastWrite = Date.now();
            res.write(": keepalive\n\n");
          }
          timer = setTimeout(poll, settings.pollMs);
        })
        .catch((err: unknown) => {
          // The browser reconnects (after `retry`) from the last id it received.
          log.warn({ err }, "session stream poll failed");
          close();
        });
    }

    open.add(close);
    req.on("close", close);
    res.on("close", close);
    res.writeHead(200, headers);
    res.write("retry: 2000\n\n");
    poll();
  }

  return {
    handle,
    closeAll() {
      for (const close of [...open]) close();
    },
  };
}
