import type { MentionEvent } from "../sessions/forge-port.js";
import { DeliveryNotFoundError } from "../sessions/errors.js";
import type { DeliveryStore, StoredMention } from "../sessions/ports.js";
import type { Db } from "./pool.js";

type DeliveryRow = {
  id: number;
  forge: StoredMention["forge"];
  delivery_key: string;
  mention: MentionEvent | null;
  status: string;
  received_at: Date;
};

export function createDeliveryStore(db: Db): DeliveryStore {
  type Inserted = { id: number | null; created: boolean; status: string | null };
  type Row = { i: number; forge: string; delivery_key: string; event_name: string; mention: unknown };

  /** One delivery (an idle or lightly loaded webhook): a plain INSERT, half the cost of the batch statement. */
  async function insertOne(d: Row): Promise<Inserted[]> {
    const { rows } = await db.query<{ id: number; status: string }>(
      `INSERT INTO webhook_deliveries (forge, delivery_key, event_name, mention) VALUES ($1, $2, $3, $4)
       ON CONFLICT (forge, delivery_key) DO NOTHING RETURNING id, status`,
      [d.forge, d.delivery_key, d.event_name, JSON.stringify(d.mention)],
    );
    return [rows[0] ? { id: rows[0].id, created: true, status: rows[0].status } : { id: null, created: false, status: null }];
  }

  /** A group commit: every row in one statement, each with its id whether inserted now or before. */
  async function insertMany(unique: Row[]): Promise<Inserted[]> {
    const { rows } = await db.query<{ i: number; id: number | null; created: boolean; status: string | null }>(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, forge text, delivery_key text, event_name text, mention jsonb)
       ), inserted AS (
         INSERT INTO webhook_deliveries (forge, delivery_key, event_name, mention)
         SELECT forge, delivery_key, event_name, mention FROM input ORDER BY i
         ON CONFLICT (forge, delivery_key) DO NOTHING
         RETURNING id, forge, delivery_key, status
       )
       SELECT input.i, COALESCE(inserted.id, earlier.id) AS id, inserted.id IS NOT NULL AS created, COALESCE(inserted.status, earlier.status) AS status
       FROM input
       LEFT JOIN inserted ON inserted.forge = input.forge AND inserted.delivery_key = input.delivery_key
       LEFT JOIN webhook_deliveries earlier ON inserted.id IS NULL AND earlier.forge = input.forge AND earlier.delivery_key = input.delivery_key
       ORDER BY input.i`,
      [JSON.stringify(unique)],
    );
    return rows.map((r) => ({ id: r.id, created: r.created, status: r.status }));
  }

  return {
    async recordDeliveries(input) {
      // A delivery repeated within the batch is written once; its repeats are duplicates.
      const firstOf = new Map<string, number>();
      const unique: Row[] = [];
      // For each input: its row in `unique`, and whether an earlier input was the same delivery.
      const at = input.map((d) => {
        const key = `${d.forge}\u0000${d.deliveryKey}`;
        const seen = firstOf.get(key);
        if (seen !== undefined) return { row: seen, repeat: true };
        firstOf.set(key, unique.length);
        unique.push({ i: unique.length, forge: d.forge, delivery_key: d.deliveryKey, event_name: d.eventName, mention: d.mention });
        return { row: unique.length - 1, repeat: false };
      });
      const results = unique.length === 1 ? await insertOne(unique[0]!) : await insertMany(unique);
      // A conflicting row another transaction committed after this statement's snapshot: read it now.
      for (const [i, r] of results.entries()) {
        if (r.id !== null) continue;
        const again = await db.query<{ id: number; status: string }>("SELECT id, status FROM webhook_deliveries WHERE forge = $1 AND delivery_key = $2", [
          unique[i]!.forge,
          unique[i]!.delivery_key,
        ]);
        if (!again.rows[0]) throw new Error("delivery insert conflicted but no row was found");
        results[i] = { id: again.rows[0].id, created: false, status: again.rows[0].status };
      }
      return at.map(({ row, repeat }) => {
        const r = results[row]!;
        return { id: r.id as number, created: r.created && !repeat, status: r.status as string };
      });
    },

    async getMention(id) {
      const { rows } = await db.query<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE id = $1", [id]);
      const row = rows[0];
      if (!row?.mention) throw new DeliveryNotFoundError(`delivery ${id} holds no mention`);
      return { id: row.id, forge: row.forge, deliveryKey: row.delivery_key, mention: row.mention, status: row.status, receivedAt: row.received_at };
    },

    async markProcessed(id, status, sessionId) {
      await db.query("UPDATE webhook_deliveries SET status = $2, session_id = $3, processed_at = now() WHERE id = $1", [id, status, sessionId ?? null]);
    },

    async claimPermissionNotice(forge, threadKey, actorId) {
      const { rowCount } = await db.query(
        "INSERT INTO permission_notices (forge, thread_key, actor_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [forge, threadKey, actorId],
      );
      return rowCount === 1;
    },
  };
}
