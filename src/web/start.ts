import type { Server } from "node:http";
import type { Config } from "../config/index.js";
import type { ForgeName, ForgeProfile } from "../sessions/forge-port.js";
import type { Logger } from "../logging/logger.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import type { Db } from "../storage/pool.js";
import { addOpsRoutes, type ReadinessProbes } from "./ops-routes.js";
import { Router, type RouteHandler } from "./router.js";
import { createHttpServer, listen } from "./server.js";

/** What the web role serves besides the ops routes: webhooks and the session pages. */
export type SiteOptions = {
  db: Db;
  lifecycle: LifecycleDeps;
  linkSecret: string;
  /** `POST /api/<forge>/webhooks` for every forge (an unconfigured one answers 503 and says what to set). */
  webhooks: Record<ForgeName, RouteHandler>;
  profileFor(name: ForgeName): ForgeProfile;
};

export type RunningHttp = { port: number; close(): Promise<void> };

/**
 * Starts the HTTP listener. With `site` (the web role): webhooks, session pages, and the ops
 * routes. Without it (a worker): `/metrics`, `/healthz` and `/readyz` only, since a worker's
 * counters exist only in its own process; a worker whose PORT is taken serves none and says so.
 */
export async function startHttp(config: Config, options: { log: Logger; probes: ReadinessProbes; site?: SiteOptions }): Promise<RunningHttp | null> {
  const { log, site } = options;
  const router = addOpsRoutes(new Router(), options.probes);
  let closeSite = () => undefined as void;
  if (site) {
    // Imported here: the pages' eta, marked and sanitize-html are not a worker's memory.
    const { createSessionWeb } = await import("./session-routes.js");
    const sessionWeb = createSessionWeb({
      db: site.db,
      lifecycle: site.lifecycle,
      linkSecret: site.linkSecret,
      publicUrl: config.publicUrl,
      adminToken: config.adminToken,
      profileFor: site.profileFor,
      log,
    });
    sessionWeb.addRoutes(router);
    closeSite = () => sessionWeb.close();
    for (const [forge, handler] of Object.entries(site.webhooks)) router.add("POST", `/api/${forge}/webhooks`, handler);
  }
  const server: Server = createHttpServer(router, log);
  let port: number;
  try {
    port = await listen(server, config.port, config.host);
  } catch (err: unknown) {
    if (site) throw err;
    log.warn({ err, port: config.port }, "PORT is taken: this worker serves no /metrics (give each worker on a host its own PORT)");
    return null;
  }
  return {
    port,
    async close() {
      // Open SSE streams would otherwise hold the server open until the forced close.
      closeSite();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(force);
    },
  };
}
