import type { Queue } from "bullmq";
import { replyMarker, startedMarker } from "../../src/sessions/notes.js";
import type { Db } from "../../src/storage/pool.js";
import type { FakeComment } from "../helpers/fake-github.js";
import type { BotProcess } from "../helpers/processes.js";
import type { Asked, FlowKind } from "./crash-flows-fixtures.js";
import { writeFigures } from "./support.js";

/**
 * What crash-flows.test.ts reads back after the storm: each session's checkpoint chain keyed the
 * way the scripted model keys its requests (so a step asked after it was recorded shows), and
 * which kinds of session were in flight when each kill landed; and, when the run fails, what was
 * left (test-artifacts/faults/crash-flows-failure.json).
 */

export type SessionRow = { id: number; flow: FlowKind; status: string; run_seq: number; thread_number: number; reply_note_id: string | null; prompt: string };

type CheckpointRow = { session_id: number; seq: number; kind: string; at: Date; delta: { messages?: { role?: string }[]; key?: string } };

/**
 * The step checkpoints of a session with the key of the request each one answers: for chat and
 * change sessions the tool results the conversation held before it (what the model server counts),
 * for reviews the group (1 + the continuations before it).
 */
export async function recordedSteps(db: Db, sessions: readonly SessionRow[]): Promise<Map<number, { key: number; at: number }[]>> {
  const { rows } = await db.query<CheckpointRow>("SELECT session_id, seq, kind, created_at AS at, delta FROM checkpoints ORDER BY session_id, seq");
  const out = new Map<number, { key: number; at: number }[]>();
  for (const s of sessions) {
    const steps: { key: number; at: number }[] = [];
    let toolMessages = 0;
    let continuations = 0;
    for (const c of rows.filter((r) => Number(r.session_id) === s.id)) {
      if (c.kind === "step") steps.push({ key: s.flow === "review" ? continuations + 1 : toolMessages, at: c.at.getTime() });
      if (c.kind === "continue") continuations++;
      toolMessages += (c.delta.messages ?? []).filter((m) => m.role === "tool").length;
    }
    out.set(s.id, steps);
  }
  return out;
}

/** Requests for a step after that step's checkpoint was written: the model asked again for recorded work. */
export function lateAsks(sessions: readonly SessionRow[], tags: Map<number, string>, steps: Map<number, { key: number; at: number }[]>, asked: readonly Asked[]): string[] {
  const late: string[] = [];
  for (const s of sessions) {
    const tag = tags.get(s.id)!;
    for (const step of steps.get(s.id) ?? []) {
      const after = asked.filter((a) => a.tag === tag && a.key === step.key && a.at > step.at);
      if (after.length) late.push(`session ${s.id} (${tag}) step ${step.key} asked ${after.length}× after its checkpoint`);
    }
  }
  return late;
}

export type Phase = "chat" | "review" | "change run 1" | "change publish";

/**
 * Each run's window on the forge: from its (first) started note to its (last) reply. A run
 * without either is left out: it cannot be placed in time.
 */
export function runWindows(comments: readonly FakeComment[], sessions: readonly SessionRow[]): { phase: Phase; from: number; to: number }[] {
  const windows: { phase: Phase; from: number; to: number }[] = [];
  for (const s of sessions) {
    for (let run = 1; run <= s.run_seq; run++) {
      const started = comments.filter((c) => c.body.includes(startedMarker(s.id, run))).map((c) => Date.parse(c.createdAt));
      const replied = comments.filter((c) => c.body.includes(replyMarker(s.id, run))).map((c) => Date.parse(c.createdAt));
      if (!started.length || !replied.length) continue;
      const phase: Phase = s.flow === "change" ? (run === 1 ? "change run 1" : "change publish") : s.flow;
      windows.push({ phase, from: Math.min(...started), to: Math.max(...replied) });
    }
  }
  return windows;
}

/** For each phase, how many kills fell while at least one run of that phase was in flight. */
export function killsByPhase(killTimes: readonly number[], windows: readonly { phase: Phase; from: number; to: number }[]): Record<Phase, number> {
  const out: Record<Phase, number> = { chat: 0, review: 0, "change run 1": 0, "change publish": 0 };
  for (const phase of Object.keys(out) as Phase[]) {
    out[phase] = killTimes.filter((k) => windows.some((w) => w.phase === phase && w.from <= k && k <= w.to)).length;
  }
  return out;
}

/**
 * What a failed run leaves for its reader: the sessions that did not end (events, checkpoints,
 * commands, lease), the jobs still pending, and the workers' warnings and errors.
 */
export async function writeFailureReport(
  db: Db,
  input: { seed: number; kills: unknown[]; stuck?: readonly SessionRow[]; queues?: readonly Queue[]; workers: readonly BotProcess[] },
): Promise<void> {
  const sessions = [];
  for (const s of input.stuck ?? []) {
    const { rows: events } = await db.query("SELECT kind, data, created_at FROM session_events WHERE session_id = $1 ORDER BY id", [s.id]);
    const { rows: chain } = await db.query("SELECT seq, kind, run, created_at FROM checkpoints WHERE session_id = $1 ORDER BY seq", [s.id]);
    const { rows: commands } = await db.query("SELECT id, run, after_seq, status, outcome FROM session_commands WHERE session_id = $1 ORDER BY id", [s.id]);
    const { rows: lease } = await db.query("SELECT lease_token, lease_until, updated_at FROM sessions WHERE id = $1", [s.id]);
    sessions.push({ id: s.id, flow: s.flow, status: s.status, run: s.run_seq, prompt: s.prompt, lease, events, chain, commands });
  }
  const jobs = [];
  for (const queue of input.queues ?? []) {
    for (const job of await queue.getJobs(["waiting", "active", "delayed", "prioritized", "waiting-children"])) {
      jobs.push({ queue: queue.name, state: await job.getState(), name: job.name, id: job.id, data: job.data, attemptsMade: job.attemptsMade, failedReason: job.failedReason, ageMs: Date.now() - job.timestamp });
    }
  }
  const { rows: installation } = await db.query("SELECT queue_namespace, rotated_at FROM installation");
  const logs = input.workers.map((w) => w.output().split("\n").filter((line) => /"level":(40|50|60)/.test(line)));
  writeFigures("crash-flows-failure", { seed: input.seed, kills: input.kills, installation, sessions, jobs, logs });
}
