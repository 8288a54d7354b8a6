import { createHmac, timingSafeEqual } from "node:crypto";

/** HMAC of the session id: the page, the JSON and the SSE stream need it, so links can't be guessed. */
export function signSessionId(secret: string, sessionId: number): string {
  return createHmac("sha256", secret).update(`session:${sessionId}`).digest("base64url").slice(0, 32);
}

export function verifySessionSignature(secret: string, sessionId: number, signature: string | null | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signSessionId(secret, sessionId));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function sessionUrl(publicUrl: string, secret: string, sessionId: number): string {
  return `${publicUrl}/sessions/${sessionId}?sig=${signSessionId(secret, sessionId)}`;
}
