import type { Db } from "../storage/pool.js";
import { createSessionViews } from "../storage/session-views.js";
import { createWorkspaceStore } from "../storage/workspace-store.js";
import type { SessionWebContext } from "./context.js";
import { handleRetryPost } from "./retry-route.js";
import { handleSessionJson } from "./session-api.js";
import { createSessionStreams, DEFAULT_STREAM_SETTINGS, type StreamSettings } from "./session-events.js";
import { handleSessionList } from "./session-list.js";
import { handleSessionPage } from "./session-page.js";
import { handlePatchDownload } from "./patch-route.js";
import type { Router } from "./router.js";
import { serveStatic } from "./static.js";

export type SessionWebOptions = Omit<SessionWebContext, "views"> & {
  db: Db;
  streams?: Partial<StreamSettings>;
};

export type SessionWeb = {
  /** Adds the session page, its JSON, SSE and retry routes, the operators' list and /static. */
  addRoutes(router: Router): Router;
  /** Ends open SSE streams so the server can close without waiting for them. */
  close(): void;
};

/** Everything under `/sessions`, `/api/sessions` and `/static`, built from the composition root. */
export function createSessionWeb(options: SessionWebOptions): SessionWeb {
  const { db, streams: streamSettings, ...rest } = options;
  const ctx: SessionWebContext = { views: createSessionViews(db), changes: createWorkspaceStore(db), ...rest };
  const streams = createSessionStreams(ctx, { ...DEFAULT_STREAM_SETTINGS, ...streamSettings });
  return {
    addRoutes(router) {
      return router
        .add("GET", "/static/:name", (req, res, p) => serveStatic(req, res, p.name))
        .add("GET", "/sessions", (req, res, _p, url) => handleSessionList(ctx, req, res, url))
        .add("GET", "/sessions/:id", (req, res, p, url) => handleSessionPage(ctx, req, res, p.id, url))
        .add("GET", "/sessions/:id/events", (req, res, p, url) => streams.handle(req, res, p.id, url))
        .add("GET", "/sessions/:id/patch", (req, res, p, url) => handlePatchDownload(ctx, req, res, p.id, url))
        .add("POST", "/sessions/:id/retry", (req, res, p, url) => handleRetryPost(ctx, req, res, p.id, url))
        .add("GET", "/api/sessions/:id", (req, res, p, url) => handleSessionJson(ctx, req, res, p.id, url));
    },
    close: () => streams.closeAll(),
  };
}
