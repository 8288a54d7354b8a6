import { REPLY_STATUSES } from "../sessions/obligations.js";

/**
 * sessions/obligations.ts in SQL, over a `sessions` row aliased `s`: the reaper and the
 * reconciler select with these, and a test evaluates them against the TypeScript rule.
 */
const statuses = REPLY_STATUSES.map((status) => `'${status}'`).join(", ");

export const ANSWERS_NOW_SQL = `(s.status IN (${statuses}))`;
export const HAS_REPLIED_SQL = `(s.reply_note_id IS NOT NULL AND (s.callback_context->>'replyRun')::int IS NOT DISTINCT FROM s.run_seq)`;
export const OWES_NOTE_DELETION_SQL = "(s.started_note_id IS NOT NULL AND s.started_note_deleted_at IS NULL)";
export const OWES_DELIVERY_SQL = `(${ANSWERS_NOW_SQL} AND (NOT ${HAS_REPLIED_SQL} OR ${OWES_NOTE_DELETION_SQL}))`;
