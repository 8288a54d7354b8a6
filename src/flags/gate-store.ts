import { inTransaction, type Db } from "../storage/pool.js";
import { normalizeActor } from "./actors.js";
import { gatesFromRows, type FlagGates, type GateKind, type GateRow } from "./gates.js";

/** Postgres NOTIFY channel the `feature_gates` trigger (migration 003) announces changes on. */
export const GATES_CHANNEL = "forgebot_feature_gates";

/**
 * Reads and writes `feature_gates`. Semantics follow Flipper/GitLab: `setBoolean` replaces every
 * gate of the flag (fully on or fully off); the other writers first make sure the flag is stored
 * (a `boolean false` row), so narrowing a rollout never falls back to the definition's default.
 * Only `deleteFlag` returns a flag to its default.
 */
export type GateStore = {
  loadAll(): Promise<Map<string, FlagGates>>;
  /** Null when nothing is stored for the flag. */
  find(flagName: string): Promise<FlagGates | null>;
  setBoolean(flagName: string, enabled: boolean): Promise<void>;
  addValues(flagName: string, kind: "actors" | "groups", values: readonly string[]): Promise<void>;
  removeValues(flagName: string, kind: "actors" | "groups", values: readonly string[]): Promise<void>;
  /** 0 removes the gate. */
  setPercentage(flagName: string, kind: "percentage_of_actors" | "percentage_of_time", percentage: number): Promise<void>;
  /** Removes every gate; returns how many rows were removed. */
  deleteFlag(flagName: string): Promise<number>;
};

/** Actor ids are stored lower-cased, the form `isEnabled` compares in. */
function stored(kind: "actors" | "groups", values: readonly string[]): string[] {
  return kind === "actors" ? values.map(normalizeActor) : [...values];
}

type RawRow = { flag_name: string; gate_kind: GateKind; value: string };

function toRows(rows: readonly RawRow[]): GateRow[] {
  return rows.map((r) => ({ flagName: r.flag_name, kind: r.gate_kind, value: r.value }));
}

const ENSURE_STORED = `INSERT INTO feature_gates (flag_name, gate_kind, value) VALUES ($1, 'boolean', 'false')
  ON CONFLICT DO NOTHING`;

export function createGateStore(db: Db): GateStore {
  return {
    async loadAll() {
      const { rows } = await db.query<RawRow>("SELECT flag_name, gate_kind, value FROM feature_gates");
      return gatesFromRows(toRows(rows));
    },

    async find(flagName) {
      const { rows } = await db.query<RawRow>("SELECT flag_name, gate_kind, value FROM feature_gates WHERE flag_name = $1", [flagName]);
      return gatesFromRows(toRows(rows)).get(flagName) ?? null;
    },

    async setBoolean(flagName, enabled) {
      await inTransaction(db, async (client) => {
        await client.query("DELETE FROM feature_gates WHERE flag_name = $1", [flagName]);
        await client.query("INSERT INTO feature_gates (flag_name, gate_kind, value) VALUES ($1, 'boolean', $2)", [flagName, String(enabled)]);
      });
    },

    async addValues(flagName, kind, values) {
      await inTransaction(db, async (client) => {
        await client.query(ENSURE_STORED, [flagName]);
        await client.query(
          `INSERT INTO feature_gates (flag_name, gate_kind, value) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`,
          [flagName, kind, stored(kind, values)],
        );
      });
    },

    async removeValues(flagName, kind, values) {
      await inTransaction(db, async (client) => {
        await client.query(ENSURE_STORED, [flagName]);
        await client.query("DELETE FROM feature_gates WHERE flag_name = $1 AND gate_kind = $2 AND value = ANY($3::text[])", [flagName, kind, stored(kind, values)]);
      });
    },

    async setPercentage(flagName, kind, percentage) {
      await inTransaction(db, async (client) => {
        await client.query(ENSURE_STORED, [flagName]);
        await client.query("DELETE FROM feature_gates WHERE flag_name = $1 AND gate_kind = $2", [flagName, kind]);
        if (percentage > 0) {
          await client.query("INSERT INTO feature_gates (flag_name, gate_kind, value) VALUES ($1, $2, $3)", [flagName, kind, String(percentage)]);
        }
      });
    },

    async deleteFlag(flagName) {
      const result = await db.query("DELETE FROM feature_gates WHERE flag_name = $1", [flagName]);
      return result.rowCount ?? 0;
    },
  };
}
