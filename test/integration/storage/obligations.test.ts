import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { answersNow, hasReplied, owesDelivery, owesNoteDeletion } from "../../../src/sessions/obligations.js";
import { SESSION_STATUSES } from "../../../src/sessions/state-machine.js";
import { ANSWERS_NOW_SQL, HAS_REPLIED_SQL, OWES_DELIVERY_SQL, OWES_NOTE_DELETION_SQL } from "../../../src/storage/obligations-sql.js";
import { createSessionStore, toSession } from "../../../src/storage/session-store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

/**
 * "What a session still owes its thread" is stated once in TypeScript (sessions/obligations.ts)
 * and once in SQL (storage/obligations-sql.ts, for the reaper and the reconciler). Every
 * combination of status, run, reply and started note is evaluated both ways here.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

type Case = {
  status: (typeof SESSION_STATUSES)[number];
  runSeq: number;
  reply: "none" | "this run" | "earlier run" | "no run recorded";
  note: "none" | "up" | "deleted";
};

const cases: Case[] = [];
for (const status of SESSION_STATUSES)
  for (const runSeq of [1, 2])
    for (const reply of ["none", "this run", "earlier run", "no run recorded"] as const)
      for (const note of ["none", "up", "deleted"] as const) cases.push({ status, runSeq, reply, note });

describe("what a session owes its thread", () => {
  it(`agrees between TypeScript and SQL in all ${SESSION_STATUSES.length * 2 * 4 * 3} combinations`, async () => {
    const store = createSessionStore(database.db);
    const expected = new Map<number, Record<string, boolean>>();
    const ids: number[] = [];
    for (const [i, c] of cases.entries()) {
      const { session } = await store.createSession({
        thread: { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", kind: "issue", number: i + 1 },
        triggerKey: `case-${i}`,
        triggerCommentId: String(i),
        actor: { id: "1", login: "u" },
        command: "chat",
        prompt: "p",
        flow: "chat",
        parentSessionId: null,
        origin: "mention",
        title: "t",
        threadUrl: undefined,
        triggerCreatedAt: new Date().toISOString(),
      });
      const replyRun = c.reply === "this run" ? c.runSeq : c.reply === "earlier run" ? c.runSeq - 1 : undefined;
      const context = { ...session.callbackContext, ...(replyRun !== undefined ? { replyRun } : {}) };
      const { rows } = await database.db.query(
        `UPDATE sessions SET status = $2, run_seq = $3, reply_note_id = $4, started_note_id = $5, started_note_deleted_at = $6,
           callback_context = $7 WHERE id = $1 RETURNING *`,
        [session.id, c.status, c.runSeq, c.reply === "none" ? null : "r1", c.note === "none" ? null : "n1", c.note === "deleted" ? new Date() : null, context],
      );
      const row = toSession(rows[0]);
      ids.push(session.id);
      expected.set(session.id, { answers: answersNow(row), replied: hasReplied(row), note: owesNoteDeletion(row), owes: owesDelivery(row) });
    }
    const { rows } = await database.db.query<{ id: number; answers: boolean; replied: boolean; note: boolean; owes: boolean }>(
      `SELECT s.id, ${ANSWERS_NOW_SQL} AS answers, ${HAS_REPLIED_SQL} AS replied, ${OWES_NOTE_DELETION_SQL} AS note, ${OWES_DELIVERY_SQL} AS owes FROM sessions s`,
    );
    expect(rows).toHaveLength(cases.length);
    for (const row of rows) expect({ id: row.id, answers: row.answers, replied: row.replied, note: row.note, owes: row.owes }).toEqual({ id: row.id, ...expected.get(row.id) });
    // The rule itself, on a few rows a reader can check by eye.
    const owing = (status: string, reply: Case["reply"], note: Case["note"]) =>
      expected.get(ids[cases.findIndex((c) => c.status === status && c.runSeq === 2 && c.reply === reply && c.note === note)]!)!.owes;
    expect(owing("running", "none", "up")).toBe(false);
    expect(owing("finished", "this run", "deleted")).toBe(false);
    expect(owing("finished", "this run", "up")).toBe(true);
    expect(owing("finished", "earlier run", "deleted")).toBe(true);
    expect(owing("input_required", "no run recorded", "none")).toBe(true);
    expect(owing("paused", "none", "up")).toBe(false);
  });
});
