import type { IncomingMessage, ServerResponse } from "node:http";

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

/** Reads a request body, refusing (and draining nothing more of) bodies over `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new BodyTooLargeError(`body of ${declared} bytes exceeds ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError(`body exceeds ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a webhook body as text; a body over `limit` is answered 413 here (after `onTooLarge`,
 * for the caller's metrics) and null is returned.
 */
export async function readWebhookBody(req: IncomingMessage, res: ServerResponse, limit: number, onTooLarge: () => void): Promise<string | null> {
  try {
    return (await readBody(req, limit)).toString("utf8");
  } catch (err: unknown) {
    if (!(err instanceof BodyTooLargeError)) throw err;
    onTooLarge();
    sendJson(res, 413, { error: `body exceeds ${limit} bytes` });
    return null;
  }
}

/**
 * The common end of both webhook routes: accept the normalized event, count the outcome (an
 * error when storage or the queue is away: answered 500 by the server, counted for the webhook
 * SLO), answer 202 for accepted and duplicate deliveries, 200 for ignored ones.
 */
export async function acceptAndAnswer<O extends string>(res: ServerResponse, accept: () => Promise<O>, count: (outcome: string) => void): Promise<O> {
  let outcome: O;
  try {
    outcome = await accept();
  } catch (err: unknown) {
    count("error");
    throw err;
  }
  count(outcome);
  sendJson(res, outcome === "accepted" || outcome === "duplicate" ? 202 : 200, { outcome });
  return outcome;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** JSON.parse that reports failure instead of throwing; deep nesting is bounded by V8's parser. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export function isJsonContentType(req: IncomingMessage): boolean {
  const type = header(req, "content-type") ?? "";
  return /^application\/(.+\+)?json\b/i.test(type.trim());
}
