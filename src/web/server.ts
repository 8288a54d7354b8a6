import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import { trackedErrors } from "../metrics/index.js";
import { sendJson } from "./http.js";
import type { Router } from "./router.js";

/** The HTTP server: routing, a last-resort error handler (never a crash), graceful close. */
export function createHttpServer(router: Router, log: Logger): Server {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const match = router.match(req.method ?? "GET", url.pathname);
    if (match === "not_found") return sendJson(res, 404, { error: "not found" });
    if (match === "method_not_allowed") return sendJson(res, 405, { error: "method not allowed" });
    Promise.resolve(match.handler(req, res, match.params, url)).catch((err: unknown) => {
      trackedErrors.inc({ phase: "http" });
      log.error({ err, path: url.pathname }, "request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  return server;
}

export function listen(server: Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}
