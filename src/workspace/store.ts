import type { CommandOutcome } from "./sandbox.js";
import type { SkippedEntry } from "./archive.js";
import type { PatchFile, PatchSummary } from "./patch.js";

/**
 * What change sessions keep in Postgres (storage/workspace-store.ts): the snapshot each
 * workspace is made from, the commands run (written ahead), and the patch a session ends with.
 */

export type SnapshotRecord = {
  sessionId: number;
  baseRef: string;
  baseSha: string;
  /** Null until the first extraction finished. */
  baseTree: string | null;
  bytes: number | null;
  files: number | null;
  skipped: SkippedEntry[];
};

export type CommandRecord = {
  id: number;
  sessionId: number;
  run: number;
  afterSeq: number;
  toolCallId: string;
  command: string;
  status: "started" | "finished";
  outcome: CommandOutcome | null;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
  output: string | null;
  startedAt: Date;
  finishedAt: Date | null;
};

/** Where an approved change went: kept with the session's patch, shown on its page. */
export type PatchPublication = {
  /** The run that published it. */
  run: number;
  /** new_branch (an issue), stacked / stacked_fork (a change request), here (`apply here`), follow_up (forgebot's own). */
  mode: "new_branch" | "stacked" | "stacked_fork" | "here" | "follow_up";
  branch: string;
  commit: { sha: string; url: string | null };
  /** The change request it opened or went to; `reference` is `#12` or `!12`, `name` "pull request" or "merge request". */
  changeRequest: { number: number; url: string | null; title: string | null; draft: boolean; reference: string; name: string; opened: boolean };
  /** The commit it went onto: the snapshot, or the base's new head after a three-way apply. */
  parentSha: string;
  rebased: boolean;
  publishedAt: Date;
};

export type StoredPatch = Omit<PatchSummary, "files"> & {
  sessionId: number;
  run: number;
  baseRef: string;
  baseSha: string;
  files: PatchFile[];
  createdAt: Date;
  /** Null until the change is published. */
  published: PatchPublication | null;
};

export interface WorkspaceStore {
  findSnapshot(sessionId: number): Promise<SnapshotRecord | null>;
  /** Records where the workspace starts; a second call keeps the first record (and returns it). */
  ensureSnapshot(sessionId: number, ref: { baseRef: string; baseSha: string }): Promise<SnapshotRecord>;
  markSnapshotReady(sessionId: number, facts: { baseTree: string; bytes: number; files: number; skipped: SkippedEntry[] }): Promise<void>;

  /** The write-ahead record of a `run`, before the command starts. */
  startCommand(input: { sessionId: number; run: number; afterSeq: number; toolCallId: string; command: string }): Promise<CommandRecord>;
  finishCommand(id: number, result: { outcome: CommandOutcome; exitCode: number | null; signal: string | null; durationMs: number; output: string }): Promise<void>;
  listCommands(sessionId: number): Promise<CommandRecord[]>;

  /** Stores the session's patch (replacing an earlier run's) with the new contents of its files. */
  savePatch(input: { sessionId: number; run: number; baseRef: string; baseSha: string; summary: PatchSummary; contents: { path: string; mode: string; content: Buffer }[] }): Promise<void>;
  findPatch(sessionId: number): Promise<StoredPatch | null>;
  /** The new contents of the patch's added and modified files, by path. */
  patchContents(sessionId: number): Promise<Map<string, Buffer>>;

  /** Of `sessionIds`, those whose session exists and has not ended (their workspace is kept). */
  findActiveSessions(sessionIds: readonly number[]): Promise<Set<number>>;
}
