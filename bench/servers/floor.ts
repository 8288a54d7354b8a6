import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";

/**
 * The ingest floor, as its own process: the least a webhook receiver can do and still never lose
 * a delivery. Verify the HMAC over the raw body, parse it, one INSERT of the delivery row (the
 * mention it carries, deduplicated by delivery id), one BullMQ add, then 202. No filtering, no
 * metrics, no logging: forgebot does more per request than this, and batching could beat it.
 */
const PATH = "/api/github/webhooks";
const secret = process.env.WEBHOOK_SECRET ?? "";
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX ?? 10), application_name: "bench-floor" });
const connection = new Redis(process.env.REDIS_URL ?? "", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
const queue = new Queue("lifecycle", { connection, prefix: process.env.QUEUE_PREFIX ?? "floor" });
await queue.waitUntilReady();

/** The retries and retention a durable job needs (forgebot's mention jobs have the same). */
const JOB = { attempts: 8, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600 } };

function verified(raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(raw).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  if (!verified(raw, req.headers["x-hub-signature-256"])) {
    res.writeHead(401).end();
    return;
  }
  const payload = JSON.parse(raw.toString("utf8")) as Record<string, any>;
  const delivery = String(req.headers["x-github-delivery"]);
  const mention = {
    forge: "github",
    deliveryKey: delivery,
    triggerCommentId: String(payload.comment?.id),
    repo: payload.repository?.full_name,
    number: payload.issue?.number,
    actor: { id: String(payload.comment?.user?.id), login: payload.comment?.user?.login },
    body: payload.comment?.body,
    title: payload.issue?.title,
    createdAt: payload.comment?.created_at,
  };
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO webhook_deliveries (forge, delivery_key, event_name, mention) VALUES ('github', $1, $2, $3)
     ON CONFLICT (forge, delivery_key) DO NOTHING RETURNING id`,
    [delivery, `${req.headers["x-github-event"]}.${payload.action}`, mention],
  );
  if (rows[0]) await queue.add("mention", { deliveryId: rows[0].id }, { ...JOB, jobId: `mention-${rows[0].id}` });
  res.writeHead(202, { "content-type": "application/json" }).end('{"outcome":"accepted"}');
}

const server = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== PATH) {
    res.writeHead(404).end();
    return;
  }
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => void Promise.all([pool.end(), queue.close()]).finally(() => process.exit(0)));
});
