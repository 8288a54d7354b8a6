import { createServer } from "node:http";
import { createNodeMiddleware, Probot } from "probot";
import { testPrivateKey, WEBHOOK_SECRET } from "../../test/helpers/github-app.js";

/**
 * The ingest baseline, as its own process: a bare Probot app that verifies and parses each
 * webhook (Probot's middleware) and acknowledges `issue_comment` without doing anything.
 */
const PATH = "/api/github/webhooks";
const probot = new Probot({ appId: 1, privateKey: testPrivateKey(), secret: process.env.WEBHOOK_SECRET ?? WEBHOOK_SECRET, logLevel: "fatal" });
const middleware = await createNodeMiddleware((app) => app.on("issue_comment", async () => undefined), { probot, webhooksPath: PATH });
const server = createServer((req, res) => {
  if (req.url !== PATH) {
    res.writeHead(404).end();
    return;
  }
  void middleware(req, res);
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
