import type { Command } from "../sessions/command.js";
import type { SessionPatch, SessionStore } from "../sessions/ports.js";
import { conversationKey, type NewSession, type Session, type SessionOrigin } from "../sessions/session.js";
import { InvalidTransitionError, SessionBusyError, SessionNotFoundError } from "../sessions/errors.js";
import { allowedFrom, nextStatus, type SessionStatus } from "../sessions/state-machine.js";
import type { Db } from "./pool.js";

type SessionRow = {
  id: number;
  forge: Session["forge"];
  host: string;
  repo_id: string;
  repo_path: string;
  thread_kind: Session["threadKind"];
  thread_number: number;
  trigger_key: string | null;
  trigger_comment_id: string | null;
  actor_id: string;
  actor_login: string;
  command: Command;
  prompt: string;
  flow: string;
  status: SessionStatus;
  run_seq: number;
  started_note_id: string | null;
  started_note_deleted_at: Date | null;
  reply_note_id: string | null;
  parent_session_id: number | null;
  origin: SessionOrigin;
  conversation_key: string;
  selected_model_metadata: Record<string, unknown> | null;
  callback_context: Session["callbackContext"];
  usage: Session["usage"];
  result: string | null;
  error_reason: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
};

/** Advisory-lock namespace for per-session note locks (the second key is the session id). */
const SESSION_LOCK_SPACE = 7_242_019;

export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    forge: row.forge,
    host: row.host,
    repoId: row.repo_id,
    repoPath: row.repo_path,
    threadKind: row.thread_kind,
    threadNumber: row.thread_number,
    triggerKey: row.trigger_key,
    triggerCommentId: row.trigger_comment_id,
    actor: { id: row.actor_id, login: row.actor_login },
    command: row.command,
    prompt: row.prompt,
    flow: row.flow,
    status: row.status,
    runSeq: row.run_seq,
    startedNoteId: row.started_note_id,
    startedNoteDeletedAt: row.started_note_deleted_at,
    replyNoteId: row.reply_note_id,
    parentSessionId: row.parent_session_id,
    origin: row.origin,
    conversationKey: row.conversation_key,
    selectedModelMetadata: row.selected_model_metadata,
    callbackContext: row.callback_context,
    usage: row.usage,
    result: row.result,
    errorReason: row.error_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

const PATCH_COLUMNS: Record<keyof SessionPatch, string> = {
  startedNoteId: "started_note_id",
  startedNoteDeletedAt: "started_note_deleted_at",
  replyNoteId: "reply_note_id",
  result: "result",
  errorReason: "error_reason",
  usage: "usage",
  runSeq: "run_seq",
  selectedModelMetadata: "selected_model_metadata",
  callbackContext: "callback_context",
  flow: "flow",
};

export type SessionStoreHooks = {
  onTransition?(status: SessionStatus): void;
  /** Connections for `withLock`, apart from the query pool (see there). */
  lockPool?: Db;
};

export function createSessionStore(db: Db, hooks: SessionStoreHooks = {}): SessionStore {
  async function findSession(id: number): Promise<Session | null> {
    const { rows } = await db.query<SessionRow>("SELECT * FROM sessions WHERE id = $1", [id]);
    return rows[0] ? toSession(rows[0]) : null;
  }
  async function getSession(id: number): Promise<Session> {
    const session = await findSession(id);
    if (!session) throw new SessionNotFoundError(`session ${id} not found`);
    return session;
  }
  async function addEvent(id: number, kind: string, data: Record<string, unknown> = {}): Promise<void> {
    await db.query("INSERT INTO session_events (session_id, kind, data) VALUES ($1, $2, $3)", [id, kind, data]);
  }

  return {
    findSession,
    getSession,
    addEvent,

    async createSession(input: NewSession) {
      const t = input.thread;
      const context: Session["callbackContext"] = {
        thread: t,
        title: input.title,
        threadUrl: input.threadUrl,
        triggerCreatedAt: input.triggerCreatedAt,
      };
      const { rows } = await db.query<SessionRow>(
        `INSERT INTO sessions (forge, host, repo_id, repo_path, installation_id, thread_kind, thread_number, discussion_id,
           trigger_key, trigger_comment_id, actor_id, actor_login, command, prompt, flow, parent_session_id, origin,
           conversation_key, callback_context)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
         ON CONFLICT (forge, trigger_key) DO NOTHING
         RETURNING *`,
        [
          t.forge, t.host, t.repoId, t.repoPath, t.installationId ?? null, t.kind, t.number,
          t.replyTo?.type === "discussion" ? t.replyTo.discussionId : t.replyTo?.rootCommentId ?? null,
          input.triggerKey, input.triggerCommentId, input.actor.id, input.actor.login, input.command, input.prompt,
          input.flow, input.parentSessionId, input.origin, conversationKey(t), context,
        ],
      );
      if (rows[0]) {
        const session = toSession(rows[0]);
        await addEvent(session.id, "created", { origin: input.origin, parentSessionId: input.parentSessionId });
        return { session, created: true };
      }
      const existing = await db.query<SessionRow>("SELECT * FROM sessions WHERE forge = $1 AND trigger_key = $2", [t.forge, input.triggerKey]);
      if (!existing.rows[0]) throw new Error("session insert conflicted but no session was found");
      return { session: toSession(existing.rows[0]), created: false };
    },

    async transition(id, event, data = {}) {
      const current = await getSession(id);
      const target = nextStatus(current.status, event);
      if (target === current.status) return current;
      const { rows } = await db.query<SessionRow>(
        `UPDATE sessions SET status = $2, updated_at = now(),
           finished_at = CASE WHEN $2 IN ('finished', 'failed', 'stopped') THEN now() ELSE finished_at END
         WHERE id = $1 AND status = ANY($3::text[]) RETURNING *`,
        [id, target, allowedFrom(event)],
      );
      if (!rows[0]) {
        // Someone else moved the session first; succeed only if they moved it where we wanted.
        const now = await getSession(id);
        if (now.status === target) return now;
        throw new InvalidTransitionError(now.status, event);
      }
      await addEvent(id, "status", { from: current.status, to: target, event, ...data });
      hooks.onTransition?.(target);
      return toSession(rows[0]);
    },

    async update(id, patch) {
      const sets: string[] = [];
      const values: unknown[] = [id];
      for (const [key, value] of Object.entries(patch)) {
        const column = PATCH_COLUMNS[key as keyof SessionPatch];
        if (!column || value === undefined) continue;
        values.push(value);
        sets.push(`${column} = $${values.length}`);
      }
      const { rows } = await db.query<SessionRow>(
        `UPDATE sessions SET ${[...sets, "updated_at = now()"].join(", ")} WHERE id = $1 RETURNING *`,
        values,
      );
      if (!rows[0]) throw new SessionNotFoundError(`session ${id} not found`);
      return toSession(rows[0]);
    },

    async withLock(id, fn) {
      // A dedicated pool: a holder waiting for a forge write slot must not starve the query
      // pool, and a crashed holder's lock dies with its connection.
      const client = await (hooks.lockPool ?? db).connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS locked", [SESSION_LOCK_SPACE, id]);
        if (!rows[0]?.locked) throw new SessionBusyError(`session ${id} is being handled by another worker`);
        try {
          return await fn();
        } finally {
          await client.query("SELECT pg_advisory_unlock($1, $2)", [SESSION_LOCK_SPACE, id]);
        }
      } finally {
        client.release();
      }
    },

    async hasEvent(id, kind, run) {
      const { rowCount } = await db.query(
        "SELECT 1 FROM session_events WHERE session_id = $1 AND kind = $2 AND (data->>'run')::int = $3 LIMIT 1",
        [id, kind, run],
      );
      return (rowCount ?? 0) > 0;
    },

    async touch(id) {
      await db.query("UPDATE sessions SET updated_at = now() WHERE id = $1", [id]);
    },

    async findLatestInConversation(key, statuses) {
      const { rows } = statuses
        ? await db.query<SessionRow>(
            "SELECT * FROM sessions WHERE conversation_key = $1 AND status = ANY($2::text[]) ORDER BY id DESC LIMIT 1",
            [key, statuses],
          )
        : await db.query<SessionRow>("SELECT * FROM sessions WHERE conversation_key = $1 ORDER BY id DESC LIMIT 1", [key]);
      return rows[0] ? toSession(rows[0]) : null;
    },

  };
}
