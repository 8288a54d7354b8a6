import type { ModelMessage } from "ai";
import type { SessionUsage } from "../sessions/session.js";
import type { ModelMetadata } from "./models/spec.js";
import type { StepUsage } from "./models/usage.js";

/**
 * The agent's checkpoint chain. Each checkpoint holds only what its step added (the delta), so
 * its size follows the step, not the history; the state is rebuilt by replaying the chain.
 * Written after every step, so a run that starts again (crash, retry, pause) continues from
 * the last one and never repeats a recorded step.
 */

/** An earlier session of the thread whose messages (up to `seq`) are this session's memory. */
export type HistoryRef = { sessionId: number; seq: number };

export type CheckpointDelta =
  /** The request: the first user message, and which earlier sessions form the thread memory. */
  | { kind: "start"; run: number; messages: ModelMessage[]; history: HistoryRef[] }
  /**
   * One model call: the assistant message and the results of the tools it called, and what those
   * tools changed outside the conversation (a workspace), opaque to the runner.
   */
  | { kind: "step"; run: number; messages: ModelMessage[]; finishReason: string; effects?: unknown }
  /** The user's answer to the agent's question, on the run that resumed the session. */
  | { kind: "input"; run: number; messages: ModelMessage[] }
  /** The run was stopped or interrupted while a model call was in flight. */
  | { kind: "interrupted"; run: number; reason: string }
  /**
   * The flow continues a run that ended on a call or an answer (a review's next group of files):
   * the call's result, if it ended on one, then the next request. `key` names the continuation
   * so it is recorded once; with `window`, the model sees only the request onward (earlier
   * messages stay in the chain and on the page).
   */
  | { kind: "continue"; run: number; key: string; messages: ModelMessage[]; window: boolean }
  /**
   * Results the flow gave for calls the loop did not run itself: the call a session switched
   * flows on, or the commands of a step cut short by a crash (never run again). `data` is the
   * flow's own bookkeeping.
   */
  | { kind: "recovered"; run: number; messages: ModelMessage[]; reason: string; data?: Record<string, unknown> };

export type CheckpointKind = CheckpointDelta["kind"];

export type Checkpoint = {
  sessionId: number;
  seq: number;
  parentSeq: number | null;
  delta: CheckpointDelta;
  model: ModelMetadata | null;
  usage: StepUsage;
  createdAt: Date;
};

export type NewCheckpoint = Omit<Checkpoint, "createdAt"> & {
  /** Written to the session in the same transaction: running totals and, when set, the chosen model. */
  session: { usage: SessionUsage; selectedModelMetadata?: ModelMetadata | undefined };
};

/** An earlier session of the same conversation, newest first. */
export type EarlierSession = { id: number; selectedModelMetadata: ModelMetadata | null };

/** Raised when `seq` is already taken: another worker is running this session. */
export class CheckpointConflictError extends Error {
  override name = "CheckpointConflictError";
}

/** Raised when the store cannot be reached (connection lost, database restarting): worth a retry. */
export class CheckpointUnavailableError extends Error {
  override name = "CheckpointUnavailableError";
}

/** Postgres-backed checkpoints (storage/checkpoint-store.ts). */
export interface CheckpointStore {
  /**
   * Inserts the checkpoint and, in the same transaction, refreshes the session heartbeat and
   * writes `session` onto it. Throws CheckpointConflictError when (session, seq) exists, and
   * CheckpointUnavailableError (from every method) when the database cannot be reached.
   */
  append(checkpoint: NewCheckpoint): Promise<void>;
  /** Every checkpoint of a session, by seq; `upToSeq` stops there. */
  list(sessionId: number, upToSeq?: number): Promise<Checkpoint[]>;
  /** Sessions of the conversation created before `beforeSessionId`, newest first. */
  listEarlierSessions(conversationKey: string, beforeSessionId: number, limit: number): Promise<EarlierSession[]>;
}

/**
 * The chain ending at the newest checkpoint, oldest first, followed through `parentSeq`
 * (rows off the chain are ignored).
 */
export function chainOf(checkpoints: readonly Checkpoint[]): Checkpoint[] {
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]));
  const newest = checkpoints.reduce<Checkpoint | undefined>((a, c) => (!a || c.seq > a.seq ? c : a), undefined);
  const chain: Checkpoint[] = [];
  const seen = new Set<number>();
  for (let c = newest; c && !seen.has(c.seq); c = c.parentSeq === null ? undefined : bySeq.get(c.parentSeq)) {
    seen.add(c.seq);
    chain.push(c);
  }
  return chain.reverse();
}
