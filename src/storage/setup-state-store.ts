import type { ForgeName } from "../sessions/forge-port.js";
import type { Db } from "./pool.js";

/**
 * Setup flows in progress (`setup_states`): the GitHub App manifest flow's `state`, bound to the
 * browser that started it. Callers pass hashes, never the state or cookie themselves, so nothing
 * stored here can be replayed. A state is taken once; expired rows read as absent.
 */

/** What the flow registers (the app's name and the account it belongs to), and who started it. */
export type SetupTarget = { name: string; owner: "user" | "organization"; org: string | null; startedBy: string };

export type SetupState = { forge: ForgeName; byOperator: boolean; target: SetupTarget };

export type SetupStateStore = ReturnType<typeof createSetupStateStore>;

export function createSetupStateStore(db: Db) {
  return {
    async save(input: { stateHash: string; browserHash: string; forge: ForgeName; byOperator: boolean; target: SetupTarget; ttlMs: number }): Promise<void> {
      await db.query(
        `INSERT INTO setup_states (state_hash, browser_hash, forge, by_operator, target, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision / 1000))`,
        [input.stateHash, input.browserHash, input.forge, input.byOperator, JSON.stringify(input.target), input.ttlMs],
      );
    },

    /**
     * Takes a state once: only for the browser that started it, the same forge, before it
     * expires. A replayed callback finds nothing; a state offered by another browser stays.
     */
    async take(stateHash: string, browserHash: string, forge: ForgeName): Promise<SetupState | null> {
      const { rows } = await db.query<{ forge: ForgeName; by_operator: boolean; target: SetupTarget }>(
        `DELETE FROM setup_states
         WHERE state_hash = $1 AND browser_hash = $2 AND forge = $3 AND expires_at > now()
         RETURNING forge, by_operator, target`,
        [stateHash, browserHash, forge],
      );
      const row = rows[0];
      return row ? { forge: row.forge, byOperator: row.by_operator, target: row.target } : null;
    },

    /** Drops expired rows (a few at a time: the setup page runs it on every start). */
    async deleteExpired(limit = 500): Promise<void> {
      await db.query("DELETE FROM setup_states WHERE state_hash IN (SELECT state_hash FROM setup_states WHERE expires_at <= now() LIMIT $1)", [limit]);
    },
  };
}
