import type { ForgeName } from "../sessions/forge-port.js";
import type { ForgeUser } from "../sessions/sign-in-port.js";
import type { Db } from "./pool.js";

/**
 * The web's sign-in rows: signed-in browsers (`web_sessions`) and sign-ins in progress
 * (`sign_in_states`). Callers pass hashes, never the ids a cookie or a URL carries, so nothing
 * stored here can be replayed. Expired rows read as absent and are swept by `deleteExpired`.
 */

export type WebSessionRow = { user: ForgeUser; expiresAt: Date };

/** A sign-in in progress: what the callback needs once its state and browser check out. */
export type SignInState = { forge: ForgeName; codeVerifier: string; returnTo: string | null };

type WebSessionSqlRow = { forge: ForgeName; host: string; user_id: string; login: string; external: boolean; expires_at: Date };

export type WebSessionStore = ReturnType<typeof createWebSessionStore>;

export function createWebSessionStore(db: Db) {
  return {
    async createWebSession(idHash: string, user: ForgeUser, ttlMs: number): Promise<void> {
      await db.query(
        `INSERT INTO web_sessions (id_hash, forge, host, user_id, login, external, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::double precision / 1000))`,
        [idHash, user.forge, user.host, user.id, user.login, user.external === true, ttlMs],
      );
    },

    /** The signed-in user of a cookie's id hash, or null when unknown or expired. */
    async findWebSession(idHash: string): Promise<WebSessionRow | null> {
      const { rows } = await db.query<WebSessionSqlRow>(
        "SELECT forge, host, user_id, login, external, expires_at FROM web_sessions WHERE id_hash = $1 AND expires_at > now()",
        [idHash],
      );
      const row = rows[0];
      return row ? { user: { forge: row.forge, host: row.host, id: row.user_id, login: row.login, ...(row.external ? { external: true } : {}) }, expiresAt: row.expires_at } : null;
    },

    async deleteWebSession(idHash: string): Promise<void> {
      await db.query("DELETE FROM web_sessions WHERE id_hash = $1", [idHash]);
    },

    async saveSignInState(input: { stateHash: string; browserHash: string; forge: ForgeName; codeVerifier: string; returnTo: string | null; ttlMs: number }): Promise<void> {
      await db.query(
        `INSERT INTO sign_in_states (state_hash, browser_hash, forge, code_verifier, return_to, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision / 1000))`,
        [input.stateHash, input.browserHash, input.forge, input.codeVerifier, input.returnTo, input.ttlMs],
      );
    },

    /**
     * Takes a sign-in state once: only for the browser that started it, the same forge, and
     * before it expires. A second take (a replayed callback) finds nothing. A state offered by
     * another browser is left for its own.
     */
    async takeSignInState(stateHash: string, browserHash: string, forge: ForgeName): Promise<SignInState | null> {
      const { rows } = await db.query<{ forge: ForgeName; code_verifier: string; return_to: string | null }>(
        `DELETE FROM sign_in_states
         WHERE state_hash = $1 AND browser_hash = $2 AND forge = $3 AND expires_at > now()
         RETURNING forge, code_verifier, return_to`,
        [stateHash, browserHash, forge],
      );
      const row = rows[0];
      return row ? { forge: row.forge, codeVerifier: row.code_verifier, returnTo: row.return_to } : null;
    },

    /** Drops expired rows of both tables (a few at a time: callers run it often). */
    async deleteExpired(limit = 500): Promise<void> {
      await db.query("DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions WHERE expires_at <= now() LIMIT $1)", [limit]);
      await db.query("DELETE FROM sign_in_states WHERE state_hash IN (SELECT state_hash FROM sign_in_states WHERE expires_at <= now() LIMIT $1)", [limit]);
    },
  };
}
