import type { ReviewOverview } from "../agent/review/store.js";
import type { ForgeName } from "../sessions/forge-port.js";
import type { Session } from "../sessions/session.js";
import type { SessionStatus } from "../sessions/state-machine.js";
import type { Db } from "./pool.js";
import { createReviewStore } from "./review-store.js";
import { toSession } from "./session-store.js";

/**
 * Read queries behind the session page, its JSON, its SSE stream and the operators' list, plus
 * the one claim the retry button needs. The page is drawn from `session_events` and
 * `checkpoints`; nothing here writes to them.
 */

export type SessionEventRow = { id: number; kind: string; data: Record<string, unknown>; createdAt: Date };

export type CheckpointRow = {
  seq: number;
  parentSeq: number | null;
  delta: unknown;
  model: Record<string, unknown> | null;
  usage: Record<string, unknown>;
  createdAt: Date;
};

export type SessionLink = { id: number; status: SessionStatus; origin: Session["origin"] };

/** Where a reader of the timeline has got to: the last event id and checkpoint seq it has. */
export type TimelineCursor = { eventId: number; seq: number };

export type Timeline = { events: SessionEventRow[]; checkpoints: CheckpointRow[] };

/** Everything the summary part of the page shows besides the timeline. */
export type SessionSummary = {
  session: Session;
  retries: SessionLink[];
  /** Model of the first checkpoint, for sessions that recorded none on the session row. */
  firstStepModel: Record<string, unknown> | null;
  steps: number;
  /** Detail of the latest `error` event (shown with the fixed error text). */
  errorDetail: string | null;
  /** A review session's record: what it read, found and posted; null for other sessions. */
  review: ReviewOverview | null;
};

/** A cheap probe of a session's progress; the SSE stream polls it. */
export type SessionPulse = { status: SessionStatus; updatedAt: Date; cursor: TimelineCursor };

export type SessionListFilter = { status?: SessionStatus; forge?: ForgeName; repo?: string; beforeId?: number; limit: number };

export type SessionListRow = Pick<
  Session,
  "id" | "forge" | "repoPath" | "threadKind" | "threadNumber" | "actor" | "command" | "status" | "origin" | "parentSessionId" | "usage" | "createdAt" | "finishedAt"
>;

/** Upper bounds that keep one page (and one stream message) a reasonable size. */
const MAX_EVENTS = 2000;
const MAX_CHECKPOINTS = 1000;

type SessionSqlRow = Parameters<typeof toSession>[0];
type EventSqlRow = { id: number; kind: string; data: Record<string, unknown>; created_at: Date };
type CheckpointSqlRow = {
  seq: number;
  parent_seq: number | null;
  delta: unknown;
  model: Record<string, unknown> | null;
  usage: Record<string, unknown>;
  created_at: Date;
};

function toEvent(row: EventSqlRow): SessionEventRow {
  return { id: row.id, kind: row.kind, data: row.data, createdAt: row.created_at };
}

function toCheckpoint(row: CheckpointSqlRow): CheckpointRow {
  return { seq: row.seq, parentSeq: row.parent_seq, delta: row.delta, model: row.model, usage: row.usage, createdAt: row.created_at };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export type SessionViews = ReturnType<typeof createSessionViews>;

export function createSessionViews(db: Db) {
  const reviews = createReviewStore(db);
  async function findTimelineAfter(id: number, after: TimelineCursor): Promise<Timeline> {
    const [events, checkpoints] = await Promise.all([
      db.query<EventSqlRow>(
        "SELECT id, kind, data, created_at FROM session_events WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        [id, after.eventId, MAX_EVENTS],
      ),
      db.query<CheckpointSqlRow>(
        "SELECT seq, parent_seq, delta, model, usage, created_at FROM checkpoints WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        [id, after.seq, MAX_CHECKPOINTS],
      ),
    ]);
    return { events: events.rows.map(toEvent), checkpoints: checkpoints.rows.map(toCheckpoint) };
  }

  async function findSummary(id: number): Promise<SessionSummary | null> {
    const { rows } = await db.query<SessionSqlRow>("SELECT * FROM sessions WHERE id = $1", [id]);
    if (!rows[0]) return null;
    const session = toSession(rows[0]);
    const [retries, first, steps, error, review] = await Promise.all([
      db.query<SessionLink>("SELECT id, status, origin FROM sessions WHERE parent_session_id = $1 ORDER BY id", [id]),
      db.query<{ model: Record<string, unknown> | null }>(
        "SELECT model FROM checkpoints WHERE session_id = $1 AND model IS NOT NULL ORDER BY seq LIMIT 1",
        [id],
      ),
      db.query<{ n: number }>("SELECT count(*)::int AS n FROM checkpoints WHERE session_id = $1", [id]),
      db.query<{ detail: string | null }>(
        "SELECT data->>'detail' AS detail FROM session_events WHERE session_id = $1 AND kind = 'error' ORDER BY id DESC LIMIT 1",
        [id],
      ),
      session.flow === "review" ? reviews.findOverview(id) : Promise.resolve(null),
    ]);
    return {
      session,
      retries: retries.rows,
      firstStepModel: first.rows[0]?.model ?? null,
      steps: steps.rows[0]?.n ?? 0,
      errorDetail: error.rows[0]?.detail ?? null,
      review,
    };
  }

  return {
    findSummary,
    findTimelineAfter,

    /** The summary and the whole timeline, or null when there is no such session. */
    async findSessionView(id: number): Promise<(SessionSummary & Timeline) | null> {
      const summary = await findSummary(id);
      if (!summary) return null;
      return { ...summary, ...(await findTimelineAfter(id, { eventId: 0, seq: 0 })) };
    },

    async findPulse(id: number): Promise<SessionPulse | null> {
      const { rows } = await db.query<{ status: SessionStatus; updated_at: Date; event_id: number; seq: number }>(
        `SELECT s.status, s.updated_at,
           COALESCE((SELECT max(e.id) FROM session_events e WHERE e.session_id = s.id), 0)::bigint AS event_id,
           COALESCE((SELECT max(c.seq) FROM checkpoints c WHERE c.session_id = s.id), 0)::int AS seq
         FROM sessions s WHERE s.id = $1`,
        [id],
      );
      const row = rows[0];
      return row ? { status: row.status, updatedAt: row.updated_at, cursor: { eventId: row.event_id, seq: row.seq } } : null;
    },

    /** Newest first; `repo` matches part of the repository path, case-insensitively. */
    async listSessions(filter: SessionListFilter): Promise<SessionListRow[]> {
      const where: string[] = [];
      const values: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        values.push(value);
        where.push(sql.replace("?", `$${values.length}`));
      };
      if (filter.status) add("status = ?", filter.status);
      if (filter.forge) add("forge = ?", filter.forge);
      if (filter.repo) add("repo_path ILIKE ?", `%${escapeLike(filter.repo)}%`);
      if (filter.beforeId) add("id < ?", filter.beforeId);
      values.push(filter.limit);
      const { rows } = await db.query<SessionSqlRow>(
        `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT $${values.length}`,
        values,
      );
      return rows.map((row) => {
        const s = toSession(row);
        return {
          id: s.id, forge: s.forge, repoPath: s.repoPath, threadKind: s.threadKind, threadNumber: s.threadNumber, actor: s.actor,
          command: s.command, status: s.status, origin: s.origin, parentSessionId: s.parentSessionId, usage: s.usage,
          createdAt: s.createdAt, finishedAt: s.finishedAt,
        };
      });
    },

    /**
     * Claims the start of a session that was created but never picked up (its start failed, say
     * the forge was down) and has been quiet for `olderThanMs`. Compare-and-set on `updated_at`:
     * of several concurrent callers at most one gets true, so one started note is posted.
     */
    async claimStalledStart(id: number, olderThanMs: number): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE sessions SET updated_at = now()
         WHERE id = $1 AND status = 'created' AND updated_at < now() - make_interval(secs => $2::double precision / 1000)`,
        [id, olderThanMs],
      );
      return rowCount === 1;
    },
  };
}
