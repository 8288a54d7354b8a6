import { createHmac } from "node:crypto";
import { constantTimeEqual } from "./text.js";

/** HMAC of the session id: the page, the JSON and the SSE stream need it, so links can't be guessed. */
export function signSessionId(secret: string, sessionId: number): string {
  return createHmac("sha256", secret).update(`session:${sessionId}`).digest("base64url").slice(0, 32);
}

export function verifySessionSignature(secret: string, sessionId: number, signature: string | null | undefined): boolean {
  return Boolean(signature) && constantTimeEqual(signature ?? "", signSessionId(secret, sessionId));
}

export function sessionUrl(publicUrl: string, secret: string, sessionId: number): string {
  return `${publicUrl}/sessions/${sessionId}?sig=${signSessionId(secret, sessionId)}`;
}

/** The signed download of a change session's patch (`GET /sessions/:id/patch?sig=…`, the page's signature). */
export function sessionPatchUrl(publicUrl: string, secret: string, sessionId: number): string {
  return `${publicUrl}/sessions/${sessionId}/patch?sig=${signSessionId(secret, sessionId)}`;
}
