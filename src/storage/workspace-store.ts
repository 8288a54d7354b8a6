import type { SkippedEntry } from "../workspace/archive.js";
import type { PatchFile } from "../workspace/patch.js";
import type { CommandOutcome } from "../workspace/sandbox.js";
import type { CommandRecord, PatchPublication, SnapshotRecord, StoredPatch, WorkspaceStore } from "../workspace/store.js";
import { textSafe } from "./jsonb.js";
import { inTransaction, type Db } from "./pool.js";

type SnapshotRow = { session_id: number; base_ref: string; base_sha: string; base_tree: string | null; bytes: string | null; files: number | null; skipped: SkippedEntry[] };
type CommandRow = {
  id: string;
  session_id: number;
  run: number;
  after_seq: number;
  tool_call_id: string;
  command: string;
  status: "started" | "finished";
  outcome: CommandOutcome | null;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number | null;
  output: string | null;
  started_at: Date;
  finished_at: Date | null;
};
type PatchRow = {
  session_id: number;
  run: number;
  base_ref: string;
  base_sha: string;
  diff: string;
  stat: string;
  files_changed: number;
  insertions: number;
  deletions: number;
  bytes: number;
  files: PatchFile[];
  created_at: Date;
  published_branch: string | null;
  published_commit: string | null;
  change_request: Omit<PatchPublication, "branch" | "publishedAt" | "commit"> & { commitUrl: string | null } | null;
  published_at: Date | null;
};

function toSnapshot(row: SnapshotRow): SnapshotRecord {
  return {
    sessionId: Number(row.session_id),
    baseRef: row.base_ref,
    baseSha: row.base_sha,
    baseTree: row.base_tree,
    bytes: row.bytes === null ? null : Number(row.bytes),
    files: row.files,
    skipped: row.skipped,
  };
}

export function toCommand(row: CommandRow): CommandRecord {
  return {
    id: Number(row.id),
    sessionId: Number(row.session_id),
    run: row.run,
    afterSeq: row.after_seq,
    toolCallId: row.tool_call_id,
    command: row.command,
    status: row.status,
    outcome: row.outcome,
    exitCode: row.exit_code,
    signal: row.signal,
    durationMs: row.duration_ms,
    output: row.output,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

function toPatch(row: PatchRow): StoredPatch {
  return {
    sessionId: Number(row.session_id),
    run: row.run,
    baseRef: row.base_ref,
    baseSha: row.base_sha,
    diff: row.diff,
    stat: row.stat,
    filesChanged: row.files_changed,
    insertions: row.insertions,
    deletions: row.deletions,
    bytes: row.bytes,
    files: row.files,
    createdAt: row.created_at,
    published: toPublication(row),
  };
}

function toPublication(row: PatchRow): PatchPublication | null {
  const cr = row.change_request;
  if (!row.published_branch || !row.published_commit || !cr || !row.published_at) return null;
  const { commitUrl, ...rest } = cr;
  return { ...rest, branch: row.published_branch, commit: { sha: row.published_commit, url: commitUrl }, publishedAt: row.published_at };
}

/** Snapshots, commands and patches of change sessions (migration 008). */
export function createWorkspaceStore(db: Db): WorkspaceStore {
  async function findSnapshot(sessionId: number): Promise<SnapshotRecord | null> {
    const { rows } = await db.query<SnapshotRow>("SELECT * FROM session_workspaces WHERE session_id = $1", [sessionId]);
    return rows[0] ? toSnapshot(rows[0]) : null;
  }
  return {
    findSnapshot,

    async ensureSnapshot(sessionId, ref) {
      await db.query("INSERT INTO session_workspaces (session_id, base_ref, base_sha) VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING", [sessionId, ref.baseRef, ref.baseSha]);
      return (await findSnapshot(sessionId))!;
    },

    async markSnapshotReady(sessionId, facts) {
      await db.query(
        "UPDATE session_workspaces SET base_tree = $2, bytes = $3, files = $4, skipped = $5::jsonb, ready_at = now() WHERE session_id = $1 AND base_tree IS NULL",
        [sessionId, facts.baseTree, facts.bytes, facts.files, JSON.stringify(facts.skipped)],
      );
    },

    async startCommand(input) {
      const { rows } = await db.query<CommandRow>(
        "INSERT INTO session_commands (session_id, run, after_seq, tool_call_id, command) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        [input.sessionId, input.run, input.afterSeq, input.toolCallId, textSafe(input.command)],
      );
      return toCommand(rows[0]!);
    },

    async finishCommand(id, result) {
      await db.query(
        "UPDATE session_commands SET status = 'finished', outcome = $2, exit_code = $3, signal = $4, duration_ms = $5, output = $6, finished_at = now() WHERE id = $1",
        [id, result.outcome, result.exitCode, result.signal, result.durationMs, textSafe(result.output)],
      );
    },

    async listCommands(sessionId) {
      const { rows } = await db.query<CommandRow>("SELECT * FROM session_commands WHERE session_id = $1 ORDER BY id", [sessionId]);
      return rows.map(toCommand);
    },

    async savePatch(input) {
      await inTransaction(db, async (client) => {
        const s = input.summary;
        await client.query(
          `INSERT INTO session_patches (session_id, run, base_ref, base_sha, diff, stat, files_changed, insertions, deletions, bytes, files)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
           ON CONFLICT (session_id) DO UPDATE SET run = EXCLUDED.run, base_ref = EXCLUDED.base_ref, base_sha = EXCLUDED.base_sha,
             diff = EXCLUDED.diff, stat = EXCLUDED.stat, files_changed = EXCLUDED.files_changed, insertions = EXCLUDED.insertions,
             deletions = EXCLUDED.deletions, bytes = EXCLUDED.bytes, files = EXCLUDED.files, updated_at = now()`,
          [input.sessionId, input.run, input.baseRef, input.baseSha, textSafe(s.diff), s.stat, s.filesChanged, s.insertions, s.deletions, s.bytes, JSON.stringify(s.files)],
        );
        await client.query("DELETE FROM session_patch_files WHERE session_id = $1", [input.sessionId]);
        for (const file of input.contents) {
          await client.query("INSERT INTO session_patch_files (session_id, path, mode, content) VALUES ($1, $2, $3, $4)", [input.sessionId, file.path, file.mode, file.content]);
        }
      });
    },

    async findActiveSessions(sessionIds) {
      if (sessionIds.length === 0) return new Set();
      const { rows } = await db.query<{ id: string }>(
        "SELECT id FROM sessions WHERE id = ANY($1::bigint[]) AND status NOT IN ('finished', 'failed', 'stopped')",
        [sessionIds],
      );
      return new Set(rows.map((r) => Number(r.id)));
    },

    async patchContents(sessionId) {
      const { rows } = await db.query<{ path: string; content: Buffer }>("SELECT path, content FROM session_patch_files WHERE session_id = $1", [sessionId]);
      return new Map(rows.map((r) => [r.path, r.content]));
    },

    async findPatch(sessionId) {
      const { rows } = await db.query<PatchRow>("SELECT * FROM session_patches WHERE session_id = $1", [sessionId]);
      return rows[0] ? toPatch(rows[0]) : null;
    },
  };
}
