import { generateKeyPairSync } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";

let cachedKey: string | undefined;

/** An RSA key made once per test process: Probot signs its app JWTs with it. */
export function testPrivateKey(): string {
  cachedKey ??= generateKeyPairSync("rsa", { modulusLength: 2048 })
    .privateKey.export({ type: "pkcs1", format: "pem" })
    .toString();
  return cachedKey;
}

export const WEBHOOK_SECRET = "test-webhook-secret";

export async function signedHeaders(event: string, deliveryId: string, body: string, secret = WEBHOOK_SECRET): Promise<Record<string, string>> {
  return {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": deliveryId,
    "x-hub-signature-256": await sign(secret, body),
  };
}
