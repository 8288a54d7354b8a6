import { createServer, type Server } from "node:http";
import type { FakeGitLab } from "./fake-gitlab.js";
import { closeServer, listenOnLoopback } from "./loopback.js";

/** Serves a FakeGitLab on 127.0.0.1, for forgebot processes that nock cannot reach. */
export async function serveFakeGitLab(fake: FakeGitLab): Promise<{ url: string; stop(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const token = req.headers["private-token"];
      const [status, body, headers] = fake.respond(req.method ?? "GET", req.url ?? "/", Buffer.concat(chunks).toString("utf8"), Array.isArray(token) ? token[0] : token);
      if (Buffer.isBuffer(body)) {
        res.writeHead(status, { "content-length": String(body.length), ...headers });
        res.end(body);
        return;
      }
      const text = body === undefined ? "" : JSON.stringify(body);
      res.writeHead(status, { ...(text ? { "content-type": "application/json" } : {}), ...headers });
      res.end(text);
    });
  });
  const port = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, stop: () => closeServer(server) };
}
