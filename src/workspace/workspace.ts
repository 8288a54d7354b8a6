import { spawn } from "node:child_process";
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { workspaceBytes, workspaceCreation } from "../metrics/flows.js";
import type { ForgeName } from "../sessions/forge-port.js";
import type { Logger } from "../sessions/ports.js";
import { extractArchive } from "./archive.js";
import { WorkspaceError, WorkspaceTooLargeError } from "./errors.js";
import { git, gitText, stageTree, type GitPaths } from "./git.js";
import { changePolicy, type ChangePolicy } from "./policy.js";
import { sandboxUserFor, type Sandbox, type SandboxUser } from "./sandbox.js";
import type { SnapshotRecord, WorkspaceStore } from "./store.js";

/**
 * A change session's working copy: `<WORKSPACE_DIR>/<session>/tree`, with its git repository in
 * `<session>/git` (outside what sandboxed commands can write). The snapshot commit is
 * `refs/forgebot/base`; every patch is the staged tree against it. A step's change to the tree
 * is recorded with its checkpoint as a StepEffect, so a workspace lost with a worker is rebuilt
 * from the snapshot plus those effects, arriving at the same git tree, without running anything.
 */

export const BASE_REF = "refs/forgebot/base";

/** What one step changed: the tree before and after, and `git diff --binary` between them. */
export type StepEffect = { from: string; to: string; patch: string };

/** Where a snapshot comes from: the forge's archive of the thread's ref. */
export type SnapshotSource = {
  snapshotRef(): Promise<{ ref: string; sha: string }>;
  download(sha: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
};

export type WorkspaceSettings = {
  /** WORKSPACE_DIR. */
  dir: string;
  /** WORKSPACE_MAX_BYTES. */
  maxBytes: number;
};

export type OpenWorkspaceInput = {
  sessionId: number;
  forge: ForgeName;
  settings: WorkspaceSettings;
  store: WorkspaceStore;
  source: SnapshotSource;
  /** The effects recorded in the session's checkpoints, oldest first. */
  effects: readonly StepEffect[];
  sandbox: Sandbox;
  signal: AbortSignal;
  log: Logger;
};

export function sessionDir(settings: WorkspaceSettings, sessionId: number): string {
  return path.join(settings.dir, String(sessionId));
}

function gitPaths(root: string): GitPaths {
  return { gitDir: path.join(root, "git"), tree: path.join(root, "tree") };
}

function run(program: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${program} failed: ${err.trim().slice(0, 300)}`))));
  });
}

/** Bytes of regular files under `dir` (links not followed), counting stops past `limit`. */
export async function treeBytes(dir: string, limit: number): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length && total <= limit) {
    const current = pending.pop()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) total += (await lstat(full).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}

export class Workspace {
  readonly paths: GitPaths;
  readonly user: SandboxUser | undefined;
  /** What may change; replaced once the repository's settings are read. */
  policy: ChangePolicy;
  /** Tree ids: the one the last checkpoint recorded, and whether tools changed anything since. */
  #checkpointTree: string;
  #dirty = false;
  /** Files written as the worker since the sandbox's user last owned the whole tree. */
  needsChown = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly root: string,
    readonly snapshot: SnapshotRecord & { baseTree: string },
    readonly sandbox: Sandbox,
    readonly maxBytes: number,
    checkpointTree: string,
    readonly log: Logger,
  ) {
    this.paths = gitPaths(root);
    this.user = sandboxUserFor(snapshot.sessionId);
    this.#checkpointTree = checkpointTree;
    this.policy = changePolicy({ maxFiles: 100, maxPatchBytes: 1024 * 1024 }, []);
  }

  get tree(): string {
    return this.paths.tree;
  }

  /** Runs workspace operations one at a time, in call order (a step's tools may be called at once). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  markDirty(): void {
    this.#dirty = true;
  }

  /** Gives the sandbox's user the whole tree again (after the worker wrote or reset files). */
  async ensureOwnership(): Promise<void> {
    if (!this.needsChown || !this.user) return;
    await chownTree(this.user, this.tree);
    this.needsChown = false;
  }

  /** The file `relative` as it is in the snapshot, or null. */
  async readBaseFile(relative: string): Promise<string | null> {
    const result = await git(this.paths, ["show", `${BASE_REF}:${relative}`], { maxBytes: 1024 * 1024 });
    return result.code === 0 && !result.overflow ? result.stdout.toString("utf8") : null;
  }

  /**
   * What the tools changed since the last checkpoint, to be recorded with the step's checkpoint;
   * null when nothing changed.
   */
  async takeEffect(): Promise<StepEffect | null> {
    return this.exclusive(async () => {
      if (!this.#dirty) return null;
      const to = await stageTree(this.paths);
      this.#dirty = false;
      if (to === this.#checkpointTree) return null;
      const patch = await gitText(this.paths, ["diff", "--binary", "--full-index", this.#checkpointTree, to]);
      const effect = { from: this.#checkpointTree, to, patch };
      this.#checkpointTree = to;
      return effect;
    });
  }

  /** Resets the tree to `tree` (a tree this repository holds). */
  async resetTo(tree: string): Promise<void> {
    await stageTree(this.paths);
    await gitText(this.paths, ["read-tree", "-u", "--reset", tree]);
    this.needsChown = true;
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Removes a session's workspace directory, if any. */
export async function removeWorkspace(settings: WorkspaceSettings, sessionId: number): Promise<void> {
  await rm(sessionDir(settings, sessionId), { recursive: true, force: true });
}

type LocalState = { baseSha: string; baseTree: string };

async function readState(root: string): Promise<LocalState | null> {
  try {
    return JSON.parse(await readFile(path.join(root, "state.json"), "utf8")) as LocalState;
  } catch {
    return null;
  }
}

/** Gives `user` (the sandbox's) the whole tree, links themselves rather than what they point at. */
function chownTree(user: SandboxUser, tree: string): Promise<void> {
  return run("chown", ["-R", "-h", "-P", `${user.uid}:${user.gid}`, tree]);
}

/**
 * Downloads an archive, extracts it into `paths.tree` under the workspace's bounds and stages all
 * of it, ignored files included (a snapshot is the repository's files as they are); returns the
 * staged tree. `what` names the archive when the download fails; `env` may give another index.
 */
export async function treeFromArchive(
  paths: GitPaths,
  download: () => Promise<ReadableStream<Uint8Array>>,
  options: { maxBytes: number; what: string; env?: Record<string, string> },
): Promise<{ tree: string; extracted: Awaited<ReturnType<typeof extractArchive>> }> {
  let archive: ReadableStream<Uint8Array>;
  try {
    archive = await download();
  } catch (err: unknown) {
    throw new WorkspaceError("download", `${options.what} could not be downloaded: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const extracted = await extractArchive(archive, paths.tree, { maxBytes: options.maxBytes });
  const env = options.env ? { env: options.env } : {};
  await gitText(paths, ["add", "-A", "-f", "."], env);
  return { tree: (await gitText(paths, ["write-tree"], env)).trim(), extracted };
}

/** Downloads and extracts the snapshot into a fresh `root`, and commits it as BASE_REF. */
async function materialize(input: OpenWorkspaceInput, root: string, snapshot: SnapshotRecord): Promise<{ baseTree: string; bytes: number; files: number; skipped: SnapshotRecord["skipped"] }> {
  const paths = gitPaths(root);
  await rm(root, { recursive: true, force: true });
  await mkdir(input.settings.dir, { recursive: true, mode: 0o711 });
  // The sandbox's user must reach the tree to mount it; nobody may list what is beside it.
  await chmod(input.settings.dir, 0o711).catch(() => undefined);
  await mkdir(root, { mode: 0o711 });
  await mkdir(paths.tree, { mode: 0o755 });
  await mkdir(paths.gitDir, { mode: 0o700 });
  await gitText(paths, ["init", "--quiet"]);
  const { tree: baseTree, extracted } = await treeFromArchive(paths, () => input.source.download(snapshot.baseSha, input.signal), { maxBytes: input.settings.maxBytes, what: "the repository archive" });
  const commit = (await gitText(paths, ["commit-tree", baseTree, "-m", `snapshot ${snapshot.baseRef} ${snapshot.baseSha}`])).trim();
  await gitText(paths, ["update-ref", BASE_REF, commit]);
  const user = sandboxUserFor(snapshot.sessionId);
  if (user) await chownTree(user, paths.tree);
  await writeFile(path.join(root, "state.json"), JSON.stringify({ baseSha: snapshot.baseSha, baseTree } satisfies LocalState));
  return { baseTree, bytes: extracted.bytes, files: extracted.files, skipped: extracted.skipped };
}

/** Applies the recorded effects in order; each must arrive at the tree it recorded. */
async function replay(paths: GitPaths, effects: readonly StepEffect[]): Promise<void> {
  for (const [i, effect] of effects.entries()) {
    const applied = await git(paths, ["apply", "--index", "--binary", "--whitespace=nowarn", "-"], { input: effect.patch });
    if (applied.code !== 0) throw new WorkspaceError("rebuild", `recorded change ${i + 1} of ${effects.length} does not apply: ${applied.stderr.trim().slice(0, 300)}`);
    const tree = (await gitText(paths, ["write-tree"])).trim();
    if (tree !== effect.to) throw new WorkspaceError("rebuild", `recorded change ${i + 1} of ${effects.length} led to another tree than recorded`);
  }
}

/**
 * The session's workspace, ready for the tools: reused when the directory on this worker is
 * at the state the checkpoints recorded, reset when it went further (a step cut short), and
 * otherwise made again from the snapshot plus the recorded effects. The first call of a
 * session fixes the snapshot (the thread's ref at that moment) for every later rebuild.
 */
export async function openWorkspace(input: OpenWorkspaceInput): Promise<Workspace> {
  const started = performance.now();
  const root = sessionDir(input.settings, input.sessionId);
  const recorded = await input.store.findSnapshot(input.sessionId);
  const snapshot = recorded ?? (await input.store.ensureSnapshot(input.sessionId, await resolveRef(input.source)));
  const expected = input.effects.at(-1)?.to ?? snapshot.baseTree;
  const local = await readState(root);
  const paths = gitPaths(root);

  if (local && snapshot.baseTree && local.baseSha === snapshot.baseSha && local.baseTree === snapshot.baseTree && expected) {
    const current = await stageTree(paths).catch(() => null);
    if (current === expected) return new Workspace(root, { ...snapshot, baseTree: snapshot.baseTree }, input.sandbox, input.settings.maxBytes, expected, input.log);
    const known = (await git(paths, ["cat-file", "-e", `${expected}^{tree}`])).code === 0;
    if (current && known) {
      const workspace = new Workspace(root, { ...snapshot, baseTree: snapshot.baseTree }, input.sandbox, input.settings.maxBytes, expected, input.log);
      await workspace.resetTo(expected);
      input.log.info({ sessionId: input.sessionId }, "workspace reset to the last checkpoint's tree");
      return workspace;
    }
  }

  let outcome = "error";
  try {
    const made = await materialize(input, root, snapshot);
    if (snapshot.baseTree && made.baseTree !== snapshot.baseTree) {
      throw new WorkspaceError("rebuild", "the repository archive no longer matches the snapshot this session started from");
    }
    if (!snapshot.baseTree) await input.store.markSnapshotReady(input.sessionId, made);
    await replay(paths, input.effects);
    const workspace = new Workspace(root, { ...snapshot, baseTree: made.baseTree, bytes: made.bytes, files: made.files, skipped: made.skipped }, input.sandbox, input.settings.maxBytes, expected ?? made.baseTree, input.log);
    workspace.needsChown = input.effects.length > 0;
    outcome = "ok";
    workspaceBytes.observe({ forge: input.forge }, made.bytes);
    input.log.info({ sessionId: input.sessionId, bytes: made.bytes, files: made.files, skipped: made.skipped.length, replayed: input.effects.length }, recorded?.baseTree ? "workspace rebuilt" : "workspace ready");
    return workspace;
  } catch (err: unknown) {
    if (err instanceof WorkspaceTooLargeError) outcome = "too_large";
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  } finally {
    workspaceCreation.observe({ forge: input.forge, outcome }, (performance.now() - started) / 1000);
  }
}

async function resolveRef(source: SnapshotSource): Promise<{ baseRef: string; baseSha: string }> {
  try {
    const { ref, sha } = await source.snapshotRef();
    return { baseRef: ref, baseSha: sha };
  } catch (err: unknown) {
    throw new WorkspaceError("snapshot", `the commit to start from could not be found: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
