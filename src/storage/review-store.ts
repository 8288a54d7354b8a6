import type { GroupResult, NewReviewRecord, PlacedFinding, PostedRecord, ReviewOverview, ReviewRecord, ReviewStatus, ReviewStore, StoppedEarly } from "../agent/review/store.js";
import { randomUUID } from "node:crypto";
import type { Logger } from "../sessions/logger.js";
import { toJsonb } from "./jsonb.js";
import { keepRenewing, leaseUntil } from "./lease.js";
import type { Db } from "./pool.js";

type ReviewRow = {
  session_id: number;
  conversation_key: string;
  status: ReviewStatus;
  head_sha: string;
  data: Omit<ReviewRecord, "sessionId" | "conversationKey" | "status" | "createdAt" | "postedAt">;
  created_at: Date;
  posted_at: Date | null;
};

const LOCK_WAIT_MS = 120_000;
const LOCK_POLL_MS = 200;

function toRecord(row: ReviewRow): ReviewRecord {
  return { ...row.data, sessionId: row.session_id, conversationKey: row.conversation_key, status: row.status, createdAt: row.created_at, postedAt: row.posted_at };
}

function dataOf(record: ReviewRecord | NewReviewRecord): ReviewRow["data"] {
  const { sessionId: _id, conversationKey: _key, status: _status, createdAt: _created, postedAt: _posted, ...data } = record as Partial<ReviewRecord> & NewReviewRecord;
  return { ...data, groups: data.groups ?? [], findings: data.findings ?? null, stopped: data.stopped ?? null, posted: data.posted ?? null };
}

/**
 * Review records in `change_reviews` (migration 007). One worker runs a session at a time; one
 * review of a change request is posted at a time (a lease per thread, `change_request_leases`).
 */
export function createReviewStore(db: Db, options: { leaseMs?: number; log?: Logger } = {}): ReviewStore {
  async function find(sessionId: number): Promise<ReviewRecord | null> {
    const { rows } = await db.query<ReviewRow>("SELECT * FROM change_reviews WHERE session_id = $1", [sessionId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }
  async function get(sessionId: number): Promise<ReviewRecord> {
    const found = await find(sessionId);
    if (!found) throw new Error(`session ${sessionId} has no review record`);
    return found;
  }
  async function write(
    record: ReviewRecord,
    columns: { status?: ReviewStatus; reviewId?: string; reviewUrl?: string | null; posted?: boolean } = {},
    event: { kind: string; data: Record<string, unknown> } | null = null,
  ): Promise<ReviewRecord> {
    // The record and (when given) the session's event in one statement: a crash never keeps one without the other.
    const { rows } = await db.query<ReviewRow>(
      `WITH updated AS (
         UPDATE change_reviews SET data = $2::jsonb, status = COALESCE($3, status), review_id = COALESCE($4, review_id), review_url = COALESCE($5, review_url),
           posted_at = CASE WHEN $6 THEN now() ELSE posted_at END, updated_at = now()
         WHERE session_id = $1 RETURNING *
       ), event AS (
         INSERT INTO session_events (session_id, kind, data) SELECT session_id, $7, $8::jsonb FROM updated WHERE $7::text IS NOT NULL
       )
       SELECT * FROM updated`,
      [record.sessionId, toJsonb(dataOf(record)), columns.status ?? null, columns.reviewId ?? null, columns.reviewUrl ?? null, columns.posted === true, event?.kind ?? null, event ? toJsonb(event.data) : null],
    );
    if (!rows[0]) throw new Error(`session ${record.sessionId} has no review record`);
    return toRecord(rows[0]);
  }

  return {
    find,

    async findOverview(sessionId: number): Promise<ReviewOverview | null> {
      const { rows } = await db.query<ReviewRow>("SELECT session_id, conversation_key, status, head_sha, data - 'files' - 'scopedFiles' AS data, created_at, posted_at FROM change_reviews WHERE session_id = $1", [sessionId]);
      if (!rows[0]) return null;
      const { files: _files, scopedFiles: _scoped, ...overview } = toRecord(rows[0]);
      return overview;
    },

    async create(record: NewReviewRecord) {
      const { rows } = await db.query<ReviewRow>(
        `INSERT INTO change_reviews (session_id, conversation_key, status, head_sha, data) VALUES ($1, $2, $3, $4, $5::jsonb)
         ON CONFLICT (session_id) DO NOTHING RETURNING *`,
        [record.sessionId, record.conversationKey, record.status, record.refs.headSha, toJsonb(dataOf(record))],
      );
      return rows[0] ? toRecord(rows[0]) : get(record.sessionId);
    },

    async saveGroup(sessionId: number, group: GroupResult) {
      const record = await get(sessionId);
      if (record.groups.some((g) => g.index === group.index)) return record;
      return write({ ...record, groups: [...record.groups, group].sort((a, b) => a.index - b.index) });
    },

    async saveFindings(sessionId: number, findings: PlacedFinding[], stopped: StoppedEarly | null) {
      const record = await get(sessionId);
      if (record.findings) return record;
      return write({ ...record, findings, stopped });
    },

    async claimPosting(sessionId: number) {
      const { rowCount } = await db.query("UPDATE change_reviews SET posting_claimed_at = now() WHERE session_id = $1 AND posting_claimed_at IS NULL", [sessionId]);
      return rowCount === 1;
    },

    async markPosted(sessionId: number, posted: PostedRecord, findings: PlacedFinding[], event: { kind: string; data: Record<string, unknown> }) {
      const record = await get(sessionId);
      return write({ ...record, posted, findings }, { status: "posted", reviewId: posted.reviewId, reviewUrl: posted.url, posted: true }, event);
    },

    async findLastReviewedHead(conversationKey: string, beforeSessionId: number) {
      const { rows } = await db.query<{ head_sha: string }>(
        "SELECT head_sha FROM change_reviews WHERE conversation_key = $1 AND status = 'posted' AND session_id < $2 ORDER BY session_id DESC LIMIT 1",
        [conversationKey, beforeSessionId],
      );
      return rows[0]?.head_sha ?? null;
    },

    async withChangeLock(conversationKey, fn) {
      // A lease on a row, not a held connection: the holder may wait long for a write slot.
      const token = randomUUID();
      const ttlMs = options.leaseMs ?? 30_000;
      const deadline = Date.now() + LOCK_WAIT_MS;
      for (;;) {
        const { rowCount } = await db.query(
          `INSERT INTO change_request_leases (conversation_key, lease_token, lease_until)
           VALUES ($1, $2, ${leaseUntil(3)})
           ON CONFLICT (conversation_key) DO UPDATE SET lease_token = EXCLUDED.lease_token, lease_until = EXCLUDED.lease_until
           WHERE change_request_leases.lease_until < now()`,
          [conversationKey, token, ttlMs],
        );
        if (rowCount === 1) break;
        if (Date.now() > deadline) throw new Error("another review of this change request is being posted");
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
      }
      const stop = keepRenewing(ttlMs, () =>
        db
          .query(`UPDATE change_request_leases SET lease_until = ${leaseUntil(3)} WHERE conversation_key = $1 AND lease_token = $2`, [conversationKey, token, ttlMs])
          .then(
            () => undefined,
            (err: unknown) => options.log?.warn({ err, conversationKey }, "review lease could not be renewed"),
          ),
      );
      try {
        return await fn();
      } finally {
        stop();
        await db.query("DELETE FROM change_request_leases WHERE conversation_key = $1 AND lease_token = $2", [conversationKey, token]);
      }
    },
  };
}
