import { createServer } from "node:http";

/** The load generator's ceiling: reads each body and answers 202, nothing else. */
const server = createServer((req, res) => {
  req.on("end", () => res.writeHead(202, { "content-type": "application/json" }).end('{"outcome":"accepted"}'));
  req.resume();
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
