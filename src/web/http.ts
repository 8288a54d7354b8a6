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
 * An `application/x-www-form-urlencoded` body's fields, or null (the body drained unread) when the
 * request is not such a form; throws BodyTooLargeError past `limit` bytes.
 */
export async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams | null> {
  const type = (header(req, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    req.resume();
    return null;
  }
  return new URLSearchParams((await readBody(req, limit)).toString("utf8"));
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

/**
 * JSON.parse that reports failure instead of throwing; deep nesting is bounded by V8's parser.
 * Postgres stores no NUL in text or jsonb, so a NUL inside a string (a
 * comment can carry one) becomes U+FFFD here, once, rather than failing a write later.
 */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    const value = text.includes("\\u0000") ? (JSON.parse(text, withoutNul) as unknown) : (JSON.parse(text) as unknown);
    return { ok: true, value };
  } catch {
    return { ok: false };
  }
}

function withoutNul(_key: string, value: unknown): unknown {
  return typeof value === "string" ? value.replaceAll("\u0000", "\uFFFD") : value;
}

/** The client asks for JSON (`Accept` names application/json). */
export function wantsJson(req: IncomingMessage): boolean {
  return (header(req, "accept") ?? "").includes("application/json");
}

export function isJsonContentType(req: IncomingMessage): boolean {
  const type = header(req, "content-type") ?? "";
  return /^application\/(.+\+)?json\b/i.test(type.trim());
}
