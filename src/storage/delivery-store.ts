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
  return {
    async recordDelivery({ forge, deliveryKey, eventName, mention }) {
      const inserted = await db.query<{ id: number; status: string }>(
        `INSERT INTO webhook_deliveries (forge, delivery_key, event_name, mention)
         VALUES ($1, $2, $3, $4) ON CONFLICT (forge, delivery_key) DO NOTHING RETURNING id, status`,
        [forge, deliveryKey, eventName, mention],
      );
      if (inserted.rows[0]) return { ...inserted.rows[0], created: true };
      const { rows } = await db.query<{ id: number; status: string }>(
        "SELECT id, status FROM webhook_deliveries WHERE forge = $1 AND delivery_key = $2",
        [forge, deliveryKey],
      );
      if (!rows[0]) throw new Error("delivery insert conflicted but no row was found");
      return { ...rows[0], created: false };
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
