import type { ReconcilerStore } from "../sessions/ports.js";
import { OWES_DELIVERY_SQL } from "./obligations-sql.js";
import type { Db } from "./pool.js";

/** Advisory-lock key for the reconciler pass (one holder cluster-wide). */
const RECONCILE_LOCK = 7_242_007;

const RECEIVED_SQL = `SELECT id FROM webhook_deliveries
  WHERE status = 'received' AND received_at < now() - make_interval(secs => $1::float8 / 1000)
  ORDER BY id LIMIT $2`;
// A created session without its started note belongs to its mention job (re-enqueued above):
// running it first could post the note after the reply.
const ACTIVE_SQL = `SELECT id, run_seq FROM sessions
  WHERE status IN ('created', 'running') AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
    AND NOT (status = 'created' AND started_note_id IS NULL)
  ORDER BY id LIMIT $2`;
const OWED_SQL = `SELECT id, run_seq FROM sessions s
  WHERE ${OWES_DELIVERY_SQL}
    AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
    AND updated_at > now() - interval '1 day'
  ORDER BY id LIMIT $2`;

type RunRow = { id: number; run_seq: number };

/** The reconciler's reads, and its cluster-wide pass lock (a session advisory lock on one connection). */
export function createReconcilerStore(db: Db): ReconcilerStore {
  const runs = (rows: RunRow[]) => rows.map((r) => ({ sessionId: r.id, run: r.run_seq }));
  return {
    async withPassLock(pass) {
      const client = await db.connect();
      let broken = false;
      try {
        const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [RECONCILE_LOCK]);
        if (!rows[0]?.locked) return null;
        try {
          return await pass();
        } finally {
          await client.query("SELECT pg_advisory_unlock($1)", [RECONCILE_LOCK]);
        }
      } catch (err: unknown) {
        // A broken connection must not go back to the pool (its session lock dies with it).
        broken = true;
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async findReceivedDeliveries(graceMs, limit) {
      return (await db.query<{ id: number }>(RECEIVED_SQL, [graceMs, limit])).rows.map((r) => r.id);
    },
    async findActiveRuns(graceMs, limit) {
      return runs((await db.query<RunRow>(ACTIVE_SQL, [graceMs, limit])).rows);
    },
    async findOwedDeliveries(graceMs, limit) {
      return runs((await db.query<RunRow>(OWED_SQL, [graceMs, limit])).rows);
    },
  };
}
