import type { Command } from "../sessions/command.js";
import type { PatchEvent, SessionPatch, SessionStore, UpdateOptions } from "../sessions/ports.js";
import { conversationKey, type NewSession, type Session, type SessionOrigin } from "../sessions/session.js";
import { InvalidTransitionError, SessionBusyError, SessionNotFoundError } from "../sessions/errors.js";
import { allowedFrom, nextStatus, targetOf, type SessionStatus } from "../sessions/state-machine.js";
import { keepRenewing, leaseUntil } from "./lease.js";
import { toJsonb } from "./jsonb.js";
import type { Db } from "./pool.js";
import { randomUUID } from "node:crypto";
import type { Logger } from "../sessions/logger.js";

type SessionRow = {
  id: number;
  forge: Session["forge"];
  host: string;
  repo_id: string;
  repo_path: string;
  visibility: Session["visibility"];
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

export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    forge: row.forge,
    host: row.host,
    repoId: row.repo_id,
    repoPath: row.repo_path,
    visibility: row.visibility ?? null,
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

const PATCH_COLUMNS: Record<Exclude<keyof SessionPatch, "contextPatch">, string> = {
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

/**
 * `SET` clauses for a patch, their values appended to `values` (the placeholders number on).
 * `contextPatch` merges keys into the callback context in SQL, so two writers of different
 * keys never undo each other.
 */
function patchColumns(patch: SessionPatch, values: unknown[]): { sets: string[]; values: unknown[] } {
  const sets: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (key === "contextPatch") {
      sets.push(`callback_context = callback_context || $${values.push(value)}::jsonb`);
      continue;
    }
    const column = PATCH_COLUMNS[key as keyof typeof PATCH_COLUMNS];
    if (column) sets.push(`${column} = $${values.push(value)}`);
  }
  return { sets, values };
}

export type SessionStoreHooks = {
  onTransition?(status: SessionStatus): void;
  /** How long a `withLock` lease lasts unless renewed (the job lock time, JOB_LOCK_MS). */
  leaseMs?: number;
  log?: Logger;
};

export function createSessionStore(db: Db, hooks: SessionStoreHooks = {}): SessionStore {
  /** Leases this process holds: session id → token (see withLock). */
  const leases = new Map<number, string>();
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
    await db.query("INSERT INTO session_events (session_id, kind, data) VALUES ($1, $2, $3)", [id, kind, toJsonb(data)]);
  }

  async function update(id: number, patch: SessionPatch, event?: PatchEvent | PatchEvent[], options: UpdateOptions = {}): Promise<Session> {
    const { sets, values } = patchColumns(patch, [id]);
    const token = options.releaseLease ? leases.get(id) : undefined;
    if (token) {
      // The holder's last write gives the lease back in the same statement.
      leases.delete(id);
      const t = values.push(token);
      sets.push(`lease_token = CASE WHEN lease_token = $${t} THEN NULL ELSE lease_token END`, `lease_until = CASE WHEN lease_token = $${t} THEN NULL ELSE lease_until END`);
    }
    const events = event === undefined ? [] : Array.isArray(event) ? event : [event];
    const eventSql = events.length
      ? `, event AS (INSERT INTO session_events (session_id, kind, data) SELECT id, e.kind, e.data FROM updated,
           jsonb_to_recordset($${values.push(toJsonb(events.map((e) => ({ kind: e.kind, data: e.data ?? {} }))))}::jsonb) AS e(kind text, data jsonb))`
      : "";
    const { rows } = await db.query<SessionRow>(
      `WITH updated AS (UPDATE sessions SET ${[...sets, "updated_at = now()"].join(", ")} WHERE id = $1 RETURNING *)${eventSql}
       SELECT * FROM updated`,
      values,
    );
    if (!rows[0]) throw new SessionNotFoundError(`session ${id} not found`);
    return toSession(rows[0]);
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
        ...(input.modifier ? { modifier: input.modifier } : {}),
      };
      // The row and its `created` event in one statement.
      const { rows } = await db.query<SessionRow>(
        `WITH created AS (
           INSERT INTO sessions (forge, host, repo_id, repo_path, installation_id, thread_kind, thread_number, discussion_id,
             trigger_key, trigger_comment_id, actor_id, actor_login, command, prompt, flow, parent_session_id, origin,
             conversation_key, callback_context, visibility)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
           ON CONFLICT (forge, trigger_key) DO NOTHING
           RETURNING *
         ), event AS (
           INSERT INTO session_events (session_id, kind, data)
           SELECT id, 'created', jsonb_build_object('origin', origin, 'parentSessionId', parent_session_id) FROM created
         )
         SELECT * FROM created`,
        [
          t.forge, t.host, t.repoId, t.repoPath, t.installationId ?? null, t.kind, t.number,
          t.replyTo?.type === "discussion" ? t.replyTo.discussionId : t.replyTo?.rootCommentId ?? null,
          input.triggerKey, input.triggerCommentId, input.actor.id, input.actor.login, input.command, input.prompt,
          input.flow, input.parentSessionId, input.origin, conversationKey(t), context, t.visibility ?? null,
        ],
      );
      if (rows[0]) return { session: toSession(rows[0]), created: true };
      const existing = await db.query<SessionRow>("SELECT * FROM sessions WHERE forge = $1 AND trigger_key = $2", [t.forge, input.triggerKey]);
      if (!existing.rows[0]) throw new Error("session insert conflicted but no session was found");
      return { session: toSession(existing.rows[0]), created: false };
    },

    async transition(id, event, data = {}, patch = {}) {
      // Compare-and-set, the patch and the `status` event in one statement; only when nothing
      // moved (already there, or not allowed) is the row read to tell which.
      const target = targetOf(event);
      const { sets, values } = patchColumns(patch, [id, target, allowedFrom(event), event, data]);
      const { rows } = await db.query<SessionRow & { previous_status: SessionStatus }>(
        `WITH cur AS (SELECT id, status FROM sessions WHERE id = $1 FOR UPDATE),
         moved AS (
           UPDATE sessions s SET status = $2, updated_at = now(),
             finished_at = CASE WHEN $2 IN ('finished', 'failed', 'stopped') THEN now() ELSE s.finished_at END${sets.map((set) => `, ${set}`).join("")}
           FROM cur WHERE s.id = cur.id AND cur.status = ANY($3::text[]) AND cur.status <> $2
           RETURNING s.*, cur.status AS previous_status
         ), event AS (
           INSERT INTO session_events (session_id, kind, data)
           SELECT id, 'status', jsonb_build_object('from', previous_status, 'to', $2::text, 'event', $4::text) || $5::jsonb FROM moved
         )
         SELECT * FROM moved`,
        values,
      );
      if (rows[0]) {
        hooks.onTransition?.(target);
        return toSession(rows[0]);
      }
      const now = await getSession(id);
      // Asking for the status it is in succeeds (repeat safety); anything else is refused.
      if (nextStatus(now.status, event) !== now.status) throw new InvalidTransitionError(now.status, event);
      return Object.keys(patch).length > 0 ? update(id, patch) : now;
    },

    update,

    async claimIntent(id, kind, run) {
      // First claim for this run inserts the event; a repeat finds it.
      const { rowCount } = await db.query(
        `INSERT INTO session_events (session_id, kind, data)
         SELECT $1, $2, jsonb_build_object('run', $3::int)
         WHERE NOT EXISTS (SELECT 1 FROM session_events WHERE session_id = $1 AND kind = $2 AND (data->>'run')::int = $3)`,
        [id, kind, run],
      );
      return rowCount === 1;
    },

    async withLock(id, fn, intent) {
      const token = randomUUID();
      const ttlMs = hooks.leaseMs ?? 30_000;
      // The lease and, when asked, the write-ahead intent for `intent.run`, in one statement.
      const { rows } = await db.query<SessionRow & { first_claim: boolean }>(
        `WITH leased AS (
           UPDATE sessions SET lease_token = $2, lease_until = ${leaseUntil(3)}
           WHERE id = $1 AND (lease_until IS NULL OR lease_until < now()) RETURNING *
         ), claimed AS (
           INSERT INTO session_events (session_id, kind, data)
           SELECT id, $4, jsonb_build_object('run', $5::int) FROM leased
           WHERE $4::text IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM session_events WHERE session_id = $1 AND kind = $4 AND (data->>'run')::int = $5)
           RETURNING 1
         )
         SELECT leased.*, EXISTS (SELECT 1 FROM claimed) AS first_claim FROM leased`,
        [id, token, ttlMs, intent?.kind ?? null, intent?.run ?? null],
      );
      if (!rows[0]) {
        await getSession(id);
        throw new SessionBusyError(`session ${id} is being handled by another worker`);
      }
      const held = toSession(rows[0]);
      leases.set(id, token);
      // Renewed while the holder works (a write may wait for its budget); released at the end,
      // by the holder's last update when it says so, else here.
      const stop = keepRenewing(ttlMs, () =>
        db.query(`UPDATE sessions SET lease_until = ${leaseUntil(3)} WHERE id = $1 AND lease_token = $2`, [id, token, ttlMs]).then(
          (r) => {
            if (r.rowCount === 0 && leases.get(id) === token) hooks.log?.warn({ sessionId: id }, "session lease lost while held: another worker may be writing its notes");
          },
          (err: unknown) => hooks.log?.warn({ err, sessionId: id }, "session lease could not be renewed"),
        ),
      );
      try {
        return await fn(held, { firstClaim: rows[0].first_claim });
      } finally {
        stop();
        if (leases.get(id) === token) {
          leases.delete(id);
          await db.query("UPDATE sessions SET lease_token = NULL, lease_until = NULL WHERE id = $1 AND lease_token = $2", [id, token]);
        }
      }
    },

    async findResumable(conversationKey, triggerKey) {
      // The thread's waiting sessions (a question, or a change waiting for approval: a free-text
      // answer makes the agent revise it) and any that already took this answer, in one query.
      const { rows } = await db.query<SessionRow>(
        `SELECT * FROM sessions WHERE conversation_key = $1
           AND (status IN ('input_required', 'plan_approval_required') OR callback_context->'inputs' @> $2::jsonb)
         ORDER BY id DESC LIMIT 20`,
        [conversationKey, JSON.stringify([{ triggerKey }])],
      );
      const sessions = rows.map(toSession);
      return {
        waiting: sessions.find((s) => s.status === "input_required" || s.status === "plan_approval_required") ?? null,
        applied: sessions.find((s) => s.callbackContext.inputs?.some((i) => i.triggerKey === triggerKey)) ?? null,
      };
    },

    async beginRun(id, run) {
      // created → running (with its status event), or running again after a crash (a heartbeat).
      const { rows } = await db.query<SessionRow & { previous_status: SessionStatus }>(
        `WITH cur AS (SELECT id, status FROM sessions WHERE id = $1 FOR UPDATE),
         moved AS (
           UPDATE sessions s SET status = 'running', updated_at = now()
           FROM cur WHERE s.id = cur.id AND s.run_seq = $2 AND cur.status IN ('created', 'running')
           RETURNING s.*, cur.status AS previous_status
         ), event AS (
           INSERT INTO session_events (session_id, kind, data)
           SELECT id, 'status', jsonb_build_object('from', 'created', 'to', 'running', 'event', 'start', 'run', $2::int) FROM moved WHERE previous_status = 'created'
         )
         SELECT * FROM moved`,
        [id, run],
      );
      if (!rows[0]) return null;
      if (rows[0].previous_status === "created") hooks.onTransition?.("running");
      return toSession(rows[0]);
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

    async findLatestRetry(parentId, origin) {
      const { rows } = await db.query<SessionRow>(
        "SELECT * FROM sessions WHERE parent_session_id = $1 AND origin = $2 ORDER BY id DESC LIMIT 1",
        [parentId, origin],
      );
      return rows[0] ? toSession(rows[0]) : null;
    },
  };
}
