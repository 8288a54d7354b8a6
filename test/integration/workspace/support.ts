import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "../../../src/logging/logger.js";
import { changePolicy } from "../../../src/workspace/policy.js";
import { createSandbox, type Sandbox } from "../../../src/workspace/sandbox.js";
import { openWorkspace, type StepEffect, type Workspace } from "../../../src/workspace/workspace.js";
import { archiveBuffer, webStream, type ArchiveEntry } from "../../helpers/archives.js";
import { MemoryWorkspaceStore } from "../../helpers/memory-workspace-store.js";

export const log = createLogger("silent");

/** A scratch WORKSPACE_DIR per test file, removed afterwards. */
export function scratchDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "forgebot-ws-test-"));
  // As WORKSPACE_DIR is: the sandbox's user may pass through, not list.
  chmodSync(dir, 0o711);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let sandboxes: Promise<Sandbox> | null = null;
/** One bubblewrap sandbox (self-tested) for the file, with a short command timeout. */
export function testSandbox(timeoutMs = 5000): Promise<Sandbox> {
  sandboxes ??= createSandbox({ mode: "bwrap", commandTimeoutMs: timeoutMs, hidden: [] }, log);
  return sandboxes;
}

let nextSession = 900_000 + (process.pid % 1000) * 50;

export type OpenOptions = {
  entries: ArchiveEntry[];
  dir: string;
  store?: MemoryWorkspaceStore;
  sessionId?: number;
  effects?: StepEffect[];
  maxBytes?: number;
  sandbox?: Sandbox;
  limits?: { maxFiles: number; maxPatchBytes: number };
  protectedGlobs?: string[];
};

/** Opens a workspace over an archive served from memory; counts downloads. */
export async function openTestWorkspace(options: OpenOptions): Promise<{ workspace: Workspace; store: MemoryWorkspaceStore; sessionId: number; downloads: () => number }> {
  const store = options.store ?? new MemoryWorkspaceStore();
  const sessionId = options.sessionId ?? ++nextSession;
  const archive = await archiveBuffer(options.entries);
  let downloads = 0;
  const workspace = await openWorkspace({
    sessionId,
    forge: "github",
    settings: { dir: options.dir, maxBytes: options.maxBytes ?? 50 * 1024 * 1024 },
    store,
    source: {
      snapshotRef: async () => ({ ref: "main", sha: "0123abc0123abc0123abc0123abc0123abc0123a" }),
      download: async () => {
        downloads++;
        return webStream(archive);
      },
    },
    effects: options.effects ?? [],
    sandbox: options.sandbox ?? (await testSandbox()),
    signal: new AbortController().signal,
    log,
  });
  workspace.policy = changePolicy(options.limits ?? { maxFiles: 100, maxPatchBytes: 1024 * 1024 }, options.protectedGlobs ?? []);
  return { workspace, store, sessionId, downloads: () => downloads };
}
