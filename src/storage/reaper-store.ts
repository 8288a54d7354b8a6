import type { ActiveSessionStats } from "../metrics/scrape.js";
import type { ReaperStore, TimedOutSession, UnfinishedDelivery } from "../sessions/ports.js";
import { HAS_REPLIED_SQL, OWES_DELIVERY_SQL, OWES_NOTE_DELETION_SQL } from "./obligations-sql.js";
import type { Db } from "./pool.js";

type TimedOutRow = {
  id: number;
  run_seq: number;
  flow: string;
  forge: TimedOutSession["forge"];
  repo_path: string;
  previous_status: TimedOutSession["previousStatus"];
  last_heartbeat: Date;
  created_at: Date;
};

type UnfinishedRow = { id: number; run_seq: number; forge: UnfinishedDelivery["forge"]; repo_path: string; note_pending: boolean; reply_missing: boolean };

/*
 * Claims lock rows with FOR UPDATE SKIP LOCKED and re-check their condition in the UPDATE, so
 * concurrent reapers (one per worker process) never take the same session twice.
 */
const FAIL_STALE_SQL = `
WITH stale AS (
  SELECT id, status, updated_at FROM sessions
  WHERE status IN ('created', 'running') AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
  ORDER BY updated_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), failed AS (
  UPDATE sessions s SET status = 'failed', error_reason = 'timeout', updated_at = now(), finished_at = now()
  FROM stale
  WHERE s.id = stale.id AND s.status IN ('created', 'running')
  RETURNING s.id, s.run_seq, s.forge, s.flow, s.repo_path, s.created_at, stale.status AS previous_status, stale.updated_at AS last_heartbeat
), events AS (
  INSERT INTO session_events (session_id, kind, data)
  SELECT id, 'error', jsonb_build_object('reason', 'timeout', 'detail', 'no heartbeat since ' || last_heartbeat, 'by', 'reaper') FROM failed
  UNION ALL
  SELECT id, 'status', jsonb_build_object('from', previous_status, 'to', 'failed', 'event', 'drop', 'reason', 'timeout', 'by', 'reaper') FROM failed
)
SELECT * FROM failed`;

const CLAIM_UNFINISHED_SQL = `
WITH due AS (
  SELECT s.id FROM sessions s
  WHERE ${OWES_DELIVERY_SQL}
    -- Each branch matches a partial index: sessions_recently_ended, sessions_active.
    AND ((s.status IN ('finished', 'failed', 'stopped') AND s.finished_at > now() - interval '1 day')
      OR (s.status NOT IN ('finished', 'failed', 'stopped') AND s.updated_at > now() - interval '1 day'))
    AND s.updated_at < now() - make_interval(secs => $1::float8 / 1000)
    AND (SELECT count(*) FROM session_events e WHERE e.session_id = s.id AND e.kind = 'reaper_delivery_retry') < $2
  ORDER BY s.updated_at
  LIMIT $3
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE sessions s SET updated_at = now()
  FROM due
  WHERE s.id = due.id AND s.updated_at < now() - make_interval(secs => $1::float8 / 1000)
  RETURNING s.id, s.run_seq, s.forge, s.repo_path, ${OWES_NOTE_DELETION_SQL} AS note_pending, NOT ${HAS_REPLIED_SQL} AS reply_missing
), events AS (
  INSERT INTO session_events (session_id, kind, data)
  SELECT id, 'reaper_delivery_retry', jsonb_build_object('run', run_seq, 'notePending', note_pending, 'replyMissing', reply_missing) FROM claimed
)
SELECT * FROM claimed`;

const ACTIVE_STATS_SQL = `
SELECT status, count(*)::int AS count, COALESCE(EXTRACT(EPOCH FROM now() - min(updated_at)), 0)::float8 AS age
FROM sessions WHERE status NOT IN ('finished', 'failed', 'stopped')
GROUP BY status`;

export type ReaperStoreWithStats = ReaperStore & {
  /** Per non-terminal status: count and oldest heartbeat age (the `sessions_active` index serves it). */
  activeSessionStats(): Promise<ActiveSessionStats>;
};

export function createReaperStore(db: Db): ReaperStoreWithStats {
  return {
    async failStaleSessions(staleAfterMs, limit) {
      const { rows } = await db.query<TimedOutRow>(FAIL_STALE_SQL, [staleAfterMs, limit]);
      return rows.map((r) => ({
        id: r.id,
        flow: r.flow,
        runSeq: r.run_seq,
        forge: r.forge,
        repoPath: r.repo_path,
        previousStatus: r.previous_status,
        lastHeartbeat: r.last_heartbeat,
        createdAt: r.created_at,
      }));
    },

    async claimUnfinishedDeliveries(graceMs, maxAttempts, limit) {
      const { rows } = await db.query<UnfinishedRow>(CLAIM_UNFINISHED_SQL, [graceMs, maxAttempts, limit]);
      return rows.map((r) => ({ id: r.id, runSeq: r.run_seq, forge: r.forge, repoPath: r.repo_path, notePending: r.note_pending, replyMissing: r.reply_missing }));
    },

    async activeSessionStats() {
      const { rows } = await db.query<{ status: string; count: number; age: number }>(ACTIVE_STATS_SQL);
      return rows.map((r) => ({ status: r.status, count: r.count, oldestHeartbeatAgeSeconds: r.age }));
    },
  };
}
