import type { Db } from "../storage/pool.js";
import { createSessionViews } from "../storage/session-views.js";
import { createWebSessionStore } from "../storage/web-session-store.js";
import { addAuthRoutes } from "./auth-routes.js";
import { createWorkspaceStore } from "../storage/workspace-store.js";
import type { SessionWebContext } from "./context.js";
import { createPermissions } from "./permissions.js";
import { handleRetryPost } from "./retry-route.js";
import { handleSessionJson } from "./session-api.js";
import { createSessionStreams, DEFAULT_STREAM_SETTINGS, type StreamSettings } from "./session-events.js";
import { handleSessionList } from "./session-list.js";
import { handleSessionPage } from "./session-page.js";
import { handlePatchDownload } from "./patch-route.js";
import type { Router } from "./router.js";
import { serveStatic } from "./static.js";
import { handleStopPost } from "./stop-route.js";

export type SessionWebOptions = Omit<SessionWebContext, "views" | "webSessions" | "permissions"> & {
  db: Db;
  streams?: Partial<StreamSettings>;
  /** How long a permission answer is reused for page views (≤ 60 s). */
  permissionCacheMs: number;
};

export type SessionWeb = {
  /** Adds the session page, its JSON, SSE, retry and stop routes, sign-in, the operators' list and /static. */
  addRoutes(router: Router): Router;
  /** Ends open SSE streams so the server can close without waiting for them. */
  close(): void;
  /** What the pages share (the setup and status pages build on it). */
  context: SessionWebContext;
};

/** Everything under `/sessions`, `/api/sessions`, `/auth` and `/static`, built from the composition root. */
export function createSessionWeb(options: SessionWebOptions): SessionWeb {
  const { db, streams: streamSettings, permissionCacheMs, ...rest } = options;
  const ctx: SessionWebContext = {
    ...rest,
    views: createSessionViews(db),
    changes: createWorkspaceStore(db),
    webSessions: { store: createWebSessionStore(db), linkSecret: rest.linkSecret, secureCookies: rest.publicUrl.startsWith("https:") },
    permissions: createPermissions(rest.lifecycle.forges, { cacheMs: permissionCacheMs }),
  };
  const streams = createSessionStreams(ctx, { ...DEFAULT_STREAM_SETTINGS, ...streamSettings });
  return {
    addRoutes(router) {
      addAuthRoutes(router, ctx);
      return router
        .add("GET", "/static/:name", (req, res, p) => serveStatic(req, res, p.name))
        .add("GET", "/sessions", (req, res, _p, url) => handleSessionList(ctx, req, res, url))
        .add("GET", "/sessions/:id", (req, res, p, url) => handleSessionPage(ctx, req, res, p.id, url))
        .add("GET", "/sessions/:id/events", (req, res, p, url) => streams.handle(req, res, p.id, url))
        .add("GET", "/sessions/:id/patch", (req, res, p, url) => handlePatchDownload(ctx, req, res, p.id, url))
        .add("POST", "/sessions/:id/retry", (req, res, p, url) => handleRetryPost(ctx, req, res, p.id, url))
        .add("POST", "/sessions/:id/stop", (req, res, p, url) => handleStopPost(ctx, req, res, p.id, url))
        .add("GET", "/api/sessions/:id", (req, res, p, url) => handleSessionJson(ctx, req, res, p.id, url));
    },
    close: () => streams.closeAll(),
    context: ctx,
  };
}
