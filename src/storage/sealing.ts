import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

/**
 * Secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from SESSION_LINK_SECRET for
 * one purpose, so the key that signs links never encrypts anything itself. Each sealed value is
 * `version (1) | nonce (12) | ciphertext | tag (16)`, bound to a context (the row it belongs to)
 * as additional data: a value copied into another row does not open there.
 */

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The sealed value is not ours to open: another key, another context, or damaged. */
export class SealError extends Error {
  override name = "SealError";
}

export type Sealer = {
  /** A fingerprint of the key (not the key): tells "sealed with another secret" from "damaged". */
  readonly keyId: string;
  seal(plain: string, context: string): Buffer;
  /** Throws SealError when `sealed` does not open under this key and context. */
  open(sealed: Buffer, context: string): string;
};

export function createSealer(secret: string, purpose: string): Sealer {
  if (!secret) throw new Error("sealing needs a secret");
  const key = Buffer.from(hkdfSync("sha256", secret, "forgebot", `forgebot:${purpose}`, 32));
  const keyId = createHmac("sha256", key).update("key-id").digest("hex").slice(0, 16);
  return {
    keyId,
    seal(plain, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return Buffer.concat([Buffer.from([FORMAT_VERSION]), nonce, body, cipher.getAuthTag()]);
    },
    open(sealed, context) {
      if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) throw new SealError("not a sealed value of a known format");
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      const tag = sealed.subarray(sealed.length - TAG_BYTES);
      const decipher = createDecipheriv("aes-256-gcm", key, nonce);
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString("utf8");
      } catch (err: unknown) {
        throw new SealError("the sealed value does not open with this key and context", { cause: err });
      }
    },
  };
}
