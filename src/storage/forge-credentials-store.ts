import { z } from "zod";
import type { ForgeName } from "../sessions/forge-port.js";
import { CredentialsUnreadableError, type CredentialStore, type ForgeCredentials, type StoredCredentials } from "../sessions/setup-port.js";
import type { Db } from "./pool.js";
import { createSealer, SealError } from "./sealing.js";

/**
 * Forge credentials the setup page stored (`forge_credentials`). The public part (`details`) is
 * plain JSON; the secrets are sealed (sealing.ts) under a key derived from SESSION_LINK_SECRET,
 * bound to the row's forge. Every process of one installation shares that secret already (signed
 * session links need it), so every process can open them; a database dump alone cannot.
 */

const github = z.object({
  forge: z.literal("github"),
  details: z.object({ host: z.string(), apiUrl: z.string(), webUrl: z.string(), appId: z.string(), slug: z.string(), clientId: z.string(), htmlUrl: z.string(), owner: z.string().nullable() }),
  secrets: z.object({ privateKey: z.string(), webhookSecret: z.string(), clientSecret: z.string() }),
});
const gitlab = z.object({
  forge: z.literal("gitlab"),
  details: z.object({ url: z.string(), host: z.string(), userId: z.string(), username: z.string() }),
  secrets: z.object({ token: z.string(), webhookSecret: z.string() }),
});
const stored = z.discriminatedUnion("forge", [github, gitlab]);

type Row = { forge: ForgeName; details: unknown; sealed: Buffer; key_id: string; version: number; stored_by: string; updated_at: Date };

/** The additional data a forge's secrets are sealed with: they open only in their own row. */
function contextOf(forge: ForgeName): string {
  return `forge_credentials:${forge}`;
}

function split(credentials: ForgeCredentials): { details: Record<string, unknown>; secrets: Record<string, string> } {
  const { forge: _forge, secrets, ...details } = credentials;
  return { details, secrets };
}

export function createForgeCredentialStore(db: Db, linkSecret: string): CredentialStore {
  const sealer = createSealer(linkSecret, "forge-credentials");

  function read(row: Row): StoredCredentials {
    if (row.key_id !== sealer.keyId) {
      throw new CredentialsUnreadableError(`the ${row.forge} credentials were stored under another SESSION_LINK_SECRET`);
    }
    let secrets: unknown;
    try {
      secrets = JSON.parse(sealer.open(row.sealed, contextOf(row.forge))) as unknown;
    } catch (err: unknown) {
      if (err instanceof SealError || err instanceof SyntaxError) throw new CredentialsUnreadableError(`the ${row.forge} credentials do not open`, { cause: err });
      throw err;
    }
    const parsed = stored.safeParse({ forge: row.forge, details: row.details, secrets });
    if (!parsed.success) throw new CredentialsUnreadableError(`the stored ${row.forge} credentials are incomplete`);
    const { forge, details } = parsed.data;
    const meta = { version: row.version, storedAt: row.updated_at, storedBy: row.stored_by };
    // One object either way; the schema already matched `details` and `secrets` to `forge`.
    return { forge, ...details, secrets: parsed.data.secrets, ...meta } as StoredCredentials;
  }

  return {
    async versions() {
      const { rows } = await db.query<{ forge: ForgeName; version: number }>("SELECT forge, version FROM forge_credentials");
      return new Map(rows.map((r) => [r.forge, r.version]));
    },

    async find(forge) {
      const { rows } = await db.query<Row>("SELECT forge, details, sealed, key_id, version, stored_by, updated_at FROM forge_credentials WHERE forge = $1", [forge]);
      const row = rows[0];
      return row ? read(row) : null;
    },

    async save(credentials, storedBy) {
      const { details, secrets } = split(credentials);
      const sealed = sealer.seal(JSON.stringify(secrets), contextOf(credentials.forge));
      const { rows } = await db.query<Row>(
        `INSERT INTO forge_credentials (forge, details, sealed, key_id, stored_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (forge) DO UPDATE
           SET details = EXCLUDED.details, sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id, stored_by = EXCLUDED.stored_by,
               version = forge_credentials.version + 1, updated_at = now()
         RETURNING forge, details, sealed, key_id, version, stored_by, updated_at`,
        [credentials.forge, JSON.stringify(details), sealed, sealer.keyId, storedBy],
      );
      return read(rows[0]!);
    },
  };
}
