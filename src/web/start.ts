import type { Server } from "node:http";
import { SIGN_IN_ENV, type Config } from "../config/index.js";
import { FORGE_NAMES, type ForgeName, type ForgeProfile } from "../sessions/forge-port.js";
import type { Logger } from "../logging/logger.js";
import type { LifecycleDeps } from "../sessions/ports.js";
import type { SignInProvider } from "../sessions/sign-in-port.js";
import type { Db } from "../storage/pool.js";
import { addOpsRoutes, type ReadinessProbes } from "./ops-routes.js";
import type { SetupOptions } from "./setup-access.js";
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
  /** Sign-in per forge (forges/registry.ts); empty when none is configured. */
  signIns: Partial<Record<ForgeName, SignInProvider>>;
  /** First run: `GET /` and the setup routes (web/setup-routes.ts). */
  setup?: SetupOptions;
};

export type RunningHttp = { port: number; close(): Promise<void> };

/** One line at start for each configured forge without sign-in, saying what that means for its pages. */
function logSignIn(config: Config, site: SiteOptions, log: Logger): void {
  const configured = FORGE_NAMES.filter((forge) => config[forge] !== null);
  const off = configured.filter((forge) => !site.signIns[forge]);
  if (off.length === 0) return;
  log.info(
    { forges: off, set: off.map((forge) => SIGN_IN_ENV[forge]), handles: off.map((forge) => site.lifecycle.forges.handleFor(forge)) },
    "sign-in is off: session pages of public repositories show to anyone with the link, private and internal ones show their status only, and retry and stop are done by writing @<handle> retry or @<handle> stop in the thread",
  );
}

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
      signIns: site.signIns,
      adminUsers: config.signIn.adminUsers,
      permissionCacheMs: config.signIn.permissionCacheMs,
    });
    logSignIn(config, site, log);
    sessionWeb.addRoutes(router);
    if (site.setup) {
      const { addSetupRoutes } = await import("./setup-routes.js");
      addSetupRoutes(router, sessionWeb.context, site.db, site.setup);
    }
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
