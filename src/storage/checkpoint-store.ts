import { CheckpointConflictError, CheckpointUnavailableError, type Checkpoint, type CheckpointStore, type NewCheckpoint } from "../agent/checkpoints.js";
import type { ModelMetadata } from "../agent/models/spec.js";
import { checkpointOperations } from "../metrics/index.js";
import { toJsonb } from "./jsonb.js";
import type { Db } from "./pool.js";

type CheckpointRow = {
  session_id: number;
  seq: number;
  parent_seq: number | null;
  delta: Checkpoint["delta"];
  model: ModelMetadata | null;
  usage: Checkpoint["usage"];
  created_at: Date;
};

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return {
    sessionId: row.session_id,
    seq: row.seq,
    parentSeq: row.parent_seq,
    delta: row.delta,
    model: row.model,
    usage: row.usage,
    createdAt: row.created_at,
  };
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown }).code === "23505";
}

/** Socket errors and the SQLSTATEs of a database going away or shedding load: a retry may succeed. */
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "57P01", "57P02", "57P03", "53300", "40001", "40P01"]);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (TRANSIENT_CODES.has(code) || code.startsWith("08"))) return true;
  return err instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(err.message);
}

/**
 * Counts every read and write by outcome (a lost connection counts as an error like any other)
 * and turns transport failures into CheckpointUnavailableError.
 */
async function counted<T>(op: "read" | "write", fn: () => Promise<T>): Promise<T> {
  try {
    const result = await fn();
    checkpointOperations.inc({ op, outcome: "ok" });
    return result;
  } catch (err: unknown) {
    checkpointOperations.inc({ op, outcome: "error" });
    if (isTransient(err)) throw new CheckpointUnavailableError(`checkpoint ${op} failed: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

/**
 * Checkpoints in Postgres. `append` is one statement: the row, the session heartbeat, its
 * running usage and (on the first checkpoint or a switch) its selected model. (session, seq) is
 * the primary key, so two workers running one session cannot both extend the chain.
 */
export function createCheckpointStore(db: Db): CheckpointStore {
  return {
    append: (checkpoint: NewCheckpoint) =>
      counted("write", async () => {
        const selected = checkpoint.session.selectedModelMetadata;
        try {
          // The checkpoint and the session's heartbeat, usage and model in one statement.
          await db.query(
            `WITH appended AS (
               INSERT INTO checkpoints (session_id, seq, parent_seq, delta, model, usage, kind, run)
               VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8)
               RETURNING session_id
             )
             UPDATE sessions SET updated_at = now(), usage = usage || $9::jsonb,
               selected_model_metadata = COALESCE($10::jsonb, selected_model_metadata)
             WHERE id = (SELECT session_id FROM appended)`,
            [
              checkpoint.sessionId,
              checkpoint.seq,
              checkpoint.parentSeq,
              toJsonb(checkpoint.delta),
              checkpoint.model ? JSON.stringify(checkpoint.model) : null,
              JSON.stringify(checkpoint.usage),
              checkpoint.delta.kind,
              checkpoint.delta.run,
              JSON.stringify(checkpoint.session.usage),
              selected ? JSON.stringify(selected) : null,
            ],
          );
        } catch (err: unknown) {
          if (isUniqueViolation(err)) {
            throw new CheckpointConflictError(`checkpoint ${checkpoint.seq} of session ${checkpoint.sessionId} already exists`, { cause: err });
          }
          throw err;
        }
      }),

    list: (sessionId, upToSeq) =>
      counted("read", async () => {
        const { rows } = await db.query<CheckpointRow>(
          `SELECT session_id, seq, parent_seq, delta, model, usage, created_at FROM checkpoints
           WHERE session_id = $1 AND ($2::int IS NULL OR seq <= $2) ORDER BY seq`,
          [sessionId, upToSeq ?? null],
        );
        return rows.map(toCheckpoint);
      }),

    listEarlierSessions: (conversationKey, beforeSessionId, limit) =>
      counted("read", async () => {
        const { rows } = await db.query<{ id: number; selected_model_metadata: ModelMetadata | null }>(
          `SELECT id, selected_model_metadata FROM sessions
           WHERE conversation_key = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
          [conversationKey, beforeSessionId, limit],
        );
        return rows.map((r) => ({ id: r.id, selectedModelMetadata: r.selected_model_metadata }));
      }),
  };
}
