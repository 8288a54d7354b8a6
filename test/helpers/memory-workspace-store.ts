import type { CommandRecord, SnapshotRecord, StoredPatch, WorkspaceStore } from "../../src/workspace/store.js";

/** A WorkspaceStore in memory, for tests of the workspace without Postgres. */
export class MemoryWorkspaceStore implements WorkspaceStore {
  snapshots = new Map<number, SnapshotRecord>();
  commands: CommandRecord[] = [];
  patches = new Map<number, StoredPatch>();
  contents = new Map<number, Map<string, Buffer>>();
  active = new Set<number>();

  async findSnapshot(sessionId: number) {
    return this.snapshots.get(sessionId) ?? null;
  }
  async ensureSnapshot(sessionId: number, ref: { baseRef: string; baseSha: string }) {
    if (!this.snapshots.has(sessionId)) this.snapshots.set(sessionId, { sessionId, ...ref, baseTree: null, bytes: null, files: null, skipped: [] });
    return this.snapshots.get(sessionId)!;
  }
  async markSnapshotReady(sessionId: number, facts: Pick<SnapshotRecord, "bytes" | "files" | "skipped"> & { baseTree: string }) {
    const s = this.snapshots.get(sessionId)!;
    if (!s.baseTree) this.snapshots.set(sessionId, { ...s, ...facts });
  }
  async startCommand(input: { sessionId: number; run: number; afterSeq: number; toolCallId: string; command: string }) {
    const row: CommandRecord = { id: this.commands.length + 1, ...input, status: "started", outcome: null, exitCode: null, signal: null, durationMs: null, output: null, startedAt: new Date(), finishedAt: null };
    this.commands.push(row);
    return row;
  }
  async finishCommand(id: number, result: Pick<CommandRecord, "exitCode" | "signal" | "output"> & { outcome: NonNullable<CommandRecord["outcome"]>; durationMs: number }) {
    const row = this.commands.find((c) => c.id === id)!;
    Object.assign(row, result, { status: "finished", finishedAt: new Date() });
  }
  async listCommands(sessionId: number) {
    return this.commands.filter((c) => c.sessionId === sessionId);
  }
  async savePatch(input: Parameters<WorkspaceStore["savePatch"]>[0]) {
    this.patches.set(input.sessionId, { ...input.summary, sessionId: input.sessionId, run: input.run, baseRef: input.baseRef, baseSha: input.baseSha, createdAt: new Date(), published: null });
    this.contents.set(input.sessionId, new Map(input.contents.map((c) => [c.path, c.content])));
  }
  async patchContents(sessionId: number) {
    return this.contents.get(sessionId) ?? new Map<string, Buffer>();
  }
  async findPatch(sessionId: number) {
    return this.patches.get(sessionId) ?? null;
  }
  async findActiveSessions(ids: readonly number[]) {
    return new Set(ids.filter((id) => this.active.has(id)));
  }
}
