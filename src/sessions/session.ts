import type { Actor, ForgeName, NoteRef, RepoVisibility, ThreadKind, ThreadRef } from "./forge-port.js";
import type { Command } from "./command.js";
import type { SessionStatus } from "./state-machine.js";

/** Everything a worker needs to answer without the webhook. Never holds secrets. */
export type CallbackContext = {
  thread: ThreadRef;
  title: string;
  threadUrl: string | undefined;
  triggerCreatedAt: string;
  startedNote?: NoteRef | undefined;
  replyNote?: NoteRef | undefined;
  /** The run whose reply `replyNote` is (a paused session replies once per run). */
  replyRun?: number | undefined;
  /** Answers to a session waiting for input, each from the mention that resumed it. */
  inputs?: SessionInput[] | undefined;
  /** The command's modifier: `review all` reviews the whole change, not only what changed since the last review. */
  modifier?: "all" | "here" | undefined;
  /** `@forgebot apply` approvals of a change waiting for one, each applied on run `run`. */
  approvals?: SessionApproval[] | undefined;
};

/** An `@forgebot apply` that resumed a change session: run `run` publishes instead of asking the model. */
export type SessionApproval = {
  run: number;
  /** `apply here`: commit onto the change request's own branch. */
  here: boolean;
  /** The approving mention's trigger key: a repeated intake job finds its approval applied. */
  triggerKey: string;
  actor: Actor;
  createdAt: string;
};

/** A later mention's text resuming a session in `input_required`; applied on run `run`. */
export type SessionInput = {
  run: number;
  text: string;
  /** The resuming mention's trigger key: a repeated intake job finds its input already applied. */
  triggerKey: string;
  actor: Actor;
  createdAt: string;
};

export type SessionUsage = {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  costUsd?: number;
  durationMs?: number;
  steps?: number;
};

export type SessionOrigin = "mention" | "retry_command" | "retry_button";

export type Session = {
  id: number;
  forge: ForgeName;
  host: string;
  repoId: string;
  repoPath: string;
  /** From the webhook; null for sessions recorded before it was kept (treated as private). */
  visibility?: RepoVisibility | null;
  threadKind: ThreadKind;
  threadNumber: number;
  triggerKey: string | null;
  triggerCommentId: string | null;
  actor: Actor;
  /** What the trigger asked for: `chat` (free text), `help`, `retry` (a retry's child), … */
  command: Command;
  prompt: string;
  /** What runs: the flow's name (`chat`, `help`, …); a retry runs its parent's flow again. */
  flow: string;
  status: SessionStatus;
  runSeq: number;
  startedNoteId: string | null;
  startedNoteDeletedAt: Date | null;
  replyNoteId: string | null;
  parentSessionId: number | null;
  origin: SessionOrigin;
  conversationKey: string;
  selectedModelMetadata: Record<string, unknown> | null;
  callbackContext: CallbackContext;
  usage: SessionUsage;
  result: string | null;
  errorReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
};

export type NewSession = Pick<Session, "triggerKey" | "triggerCommentId" | "actor" | "command" | "prompt" | "flow" | "parentSessionId" | "origin"> & {
  thread: ThreadRef;
  title: string;
  threadUrl: string | undefined;
  triggerCreatedAt: string;
  modifier?: CallbackContext["modifier"];
};

/** One key per thread: follow-up mentions in a thread continue the same conversation. */
export function conversationKey(thread: ThreadRef): string {
  return [thread.forge, thread.host, thread.repoId, thread.kind, thread.number].join(":");
}

/** The visibility that decides who may see a session: what was recorded, else private. */
export function sessionVisibility(session: Pick<Session, "visibility">): RepoVisibility {
  return session.visibility ?? "private";
}
