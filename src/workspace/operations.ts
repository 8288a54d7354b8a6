import { lchown, lstat, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { WorkspaceRefusal } from "./errors.js";
import { git, gitText, stageTree } from "./git.js";
import { changedPaths, patchBytes, summarizePatch, type PatchSummary } from "./patch.js";
import { cleanRelativePath, relativeTo, resolveEntryInside, resolveInside } from "./paths.js";
import { protectedBy, protectedReason } from "./policy.js";
import type { CommandResult } from "./sandbox.js";
import { BASE_REF, treeBytes, type Workspace } from "./workspace.js";

/**
 * What the agent's workspace tools do. Every path is checked (paths.ts) before the disk is
 * touched; every change is checked against the policy (protected paths, CHANGE_MAX_FILES,
 * CHANGE_MAX_PATCH_BYTES) and undone when it breaks it, with the reason returned for the agent.
 */

/** Largest file read whole; bigger ones are searched or read through a command. */
const MAX_READ_BYTES = 10 * 1024 * 1024;
/** Bytes looked at to tell a binary file (a NUL byte) from text. */
const BINARY_PROBE = 8000;

export type ReadResult = { kind: "text"; path: string; text: string; startLine: number; endLine: number; totalLines: number } | { kind: "binary"; path: string; bytes: number };

function isBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, BINARY_PROBE).includes(0);
}

async function isIgnored(ws: Workspace, relative: string): Promise<boolean> {
  return (await git(ws.paths, ["check-ignore", "-q", "--", relative])).code === 0;
}

/** Makes the directories of `absolute` below the tree, owned by the sandbox's user. */
async function makeParents(ws: Workspace, absolute: string): Promise<void> {
  const missing: string[] = [];
  for (let dir = path.dirname(absolute); dir !== ws.tree && dir.startsWith(ws.tree); dir = path.dirname(dir)) {
    const found = await lstat(dir).catch(() => null);
    if (found?.isDirectory()) break;
    if (found) throw new WorkspaceRefusal(`${relativeTo(ws.tree, dir)} exists and is not a directory`);
    missing.unshift(dir);
  }
  for (const dir of missing) {
    await mkdir(dir);
    if (ws.user) await lchown(dir, ws.user.uid, ws.user.gid);
  }
}

async function own(ws: Workspace, absolute: string): Promise<void> {
  if (ws.user) await lchown(absolute, ws.user.uid, ws.user.gid);
}

function refuseProtected(ws: Workspace, relative: string): void {
  const glob = protectedBy(ws.policy, relative);
  if (glob) throw new WorkspaceRefusal(protectedReason(relative, glob));
}

/** Why the staged tree breaks the limits, or null. */
async function limitProblem(ws: Workspace): Promise<string | null> {
  const files = await changedPaths(ws.paths, BASE_REF);
  if (files.length > ws.policy.maxFiles) return `the change would touch ${files.length} files, more than CHANGE_MAX_FILES (${ws.policy.maxFiles})`;
  const bytes = await patchBytes(ws.paths, BASE_REF, ws.policy.maxPatchBytes);
  if (bytes > ws.policy.maxPatchBytes) return `the patch would be larger than CHANGE_MAX_PATCH_BYTES (${ws.policy.maxPatchBytes} bytes)`;
  return null;
}

/**
 * Runs one change to the tree; when the result breaks the limits, puts the tree back as it was
 * and refuses with the reason.
 */
async function guarded(ws: Workspace, change: () => Promise<void>): Promise<void> {
  const before = await stageTree(ws.paths);
  await change();
  ws.markDirty();
  await stageTree(ws.paths);
  const problem = await limitProblem(ws);
  if (!problem) return;
  await ws.resetTo(before);
  throw new WorkspaceRefusal(`${problem}; the change was not made`);
}

export function readWorkspaceFile(ws: Workspace, given: string, range: { startLine?: number | undefined; endLine?: number | undefined }): Promise<ReadResult> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(given);
    const absolute = await resolveInside(ws.tree, relative);
    const info = await stat(absolute).catch(() => null);
    if (!info) throw new WorkspaceRefusal(`${relative}: no such file`);
    if (info.isDirectory()) throw new WorkspaceRefusal(`${relative} is a directory; list it with list_files`);
    if (!info.isFile()) throw new WorkspaceRefusal(`${relative} is not a regular file`);
    if (info.size > MAX_READ_BYTES) throw new WorkspaceRefusal(`${relative} has ${info.size} bytes, too many to read whole; search it, or read parts with run (sed -n, head)`);
    const bytes = await readFile(absolute);
    if (isBinary(bytes)) return { kind: "binary", path: relative, bytes: bytes.length };
    const lines = bytes.toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    const start = Math.max(1, range.startLine ?? 1);
    const end = Math.min(lines.length, range.endLine ?? lines.length);
    return { kind: "text", path: relative, text: lines.slice(start - 1, end).join("\n"), startLine: start, endLine: end, totalLines: lines.length };
  });
}

/** Files under `dir` (tracked and new, ignored ones left out), sorted, at most `limit`. */
export function listWorkspaceFiles(ws: Workspace, dir: string, limit: number): Promise<{ files: string[]; total: number }> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(dir);
    await resolveInside(ws.tree, relative);
    await stageTree(ws.paths);
    const out = await gitText(ws.paths, ["ls-files", "-z", "--cached", "--", relative || "."]);
    const all = out.split("\0").filter(Boolean).sort();
    return { files: all.slice(0, limit), total: all.length };
  });
}

/** Lines matching `pattern` (a POSIX extended regular expression), at most `limit`. */
export function searchWorkspace(ws: Workspace, pattern: string, options: { path?: string | undefined; ignoreCase?: boolean | undefined; limit: number }): Promise<{ matches: string[]; more: boolean }> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(options.path ?? "");
    await resolveInside(ws.tree, relative);
    const args = ["grep", "-n", "-I", "--untracked", "--no-color", "-E", ...(options.ignoreCase ? ["-i"] : []), "-e", pattern, "--", relative || "."];
    // Bounded in output and time: a hostile tree cannot make a search hang the session.
    const result = await git(ws.paths, args, { maxBytes: options.limit * 600, timeoutMs: 20_000 });
    if (result.code > 1 && !result.overflow) throw new WorkspaceRefusal(`the search failed: ${result.stderr.trim().slice(0, 300)}`);
    const lines = result.stdout.toString("utf8").split("\n").filter(Boolean).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
    const kept = result.overflow ? lines.slice(0, -1) : lines;
    return { matches: kept.slice(0, options.limit), more: result.overflow || kept.length > options.limit };
  });
}

export type ChangeNote = { notes: string[] };

export function writeWorkspaceFile(ws: Workspace, given: string, content: string): Promise<ChangeNote> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(given);
    if (relative === "") throw new WorkspaceRefusal("give a file path");
    refuseProtected(ws, relative);
    const absolute = await resolveInside(ws.tree, relative);
    const existing = await lstat(absolute).catch(() => null);
    if (existing?.isDirectory()) throw new WorkspaceRefusal(`${relative} is a directory`);
    if (existing && !existing.isFile()) throw new WorkspaceRefusal(`${relative} is not a regular file`);
    await guarded(ws, async () => {
      await makeParents(ws, absolute);
      await writeFile(absolute, content);
      if (!existing) await own(ws, absolute);
    });
    const notes = [`${existing ? "Replaced" : "Created"} ${relative} (${Buffer.byteLength(content)} bytes).`];
    if (await isIgnored(ws, relative)) notes.push(`${relative} is ignored by .gitignore: it will not be part of the patch.`);
    return { notes };
  });
}

export function editWorkspaceFile(ws: Workspace, given: string, oldText: string, newText: string): Promise<ChangeNote> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(given);
    refuseProtected(ws, relative);
    const absolute = await resolveInside(ws.tree, relative);
    const info = await stat(absolute).catch(() => null);
    if (!info?.isFile()) throw new WorkspaceRefusal(`${relative}: no such file`);
    const bytes = await readFile(absolute).catch(() => null);
    if (!bytes) throw new WorkspaceRefusal(`${relative}: no such file`);
    if (isBinary(bytes)) throw new WorkspaceRefusal(`${relative} is binary; it cannot be edited as text`);
    if (oldText === "") throw new WorkspaceRefusal("old_text is empty; give the exact text to replace");
    const text = bytes.toString("utf8");
    const count = text.split(oldText).length - 1;
    if (count === 0) throw new WorkspaceRefusal(`old_text was not found in ${relative}; read the file and copy the text exactly (whitespace included)`);
    if (count > 1) throw new WorkspaceRefusal(`old_text matches ${count} places in ${relative}; include more surrounding lines so it matches exactly one`);
    const at = text.indexOf(oldText);
    await guarded(ws, async () => {
      await writeFile(absolute, text.slice(0, at) + newText + text.slice(at + oldText.length));
    });
    const line = text.slice(0, at).split("\n").length;
    return { notes: [`Edited ${relative} at line ${line}.`] };
  });
}

export function deleteWorkspaceFile(ws: Workspace, given: string): Promise<ChangeNote> {
  return ws.exclusive(async () => {
    const relative = cleanRelativePath(given);
    refuseProtected(ws, relative);
    const absolute = await resolveEntryInside(ws.tree, relative);
    const existing = await lstat(absolute).catch(() => null);
    if (!existing) throw new WorkspaceRefusal(`${relative}: no such file`);
    await guarded(ws, () => rm(absolute, { recursive: true, force: true }));
    return { notes: [`Deleted ${relative}${existing.isDirectory() ? " (a directory, with everything in it)" : ""}.`] };
  });
}

export function moveWorkspaceFile(ws: Workspace, from: string, to: string): Promise<ChangeNote> {
  return ws.exclusive(async () => {
    const source = cleanRelativePath(from);
    const target = cleanRelativePath(to);
    refuseProtected(ws, source);
    refuseProtected(ws, target);
    const absoluteFrom = await resolveEntryInside(ws.tree, source);
    const absoluteTo = await resolveEntryInside(ws.tree, target);
    if (!(await lstat(absoluteFrom).catch(() => null))) throw new WorkspaceRefusal(`${source}: no such file`);
    if (await lstat(absoluteTo).catch(() => null)) throw new WorkspaceRefusal(`${target} already exists; delete it first if it should be replaced`);
    await guarded(ws, async () => {
      await makeParents(ws, absoluteTo);
      await rename(absoluteFrom, absoluteTo);
    });
    return { notes: [`Moved ${source} to ${target}.`] };
  });
}

/** The current change against the snapshot. */
export function workspaceDiff(ws: Workspace): Promise<PatchSummary> {
  return ws.exclusive(async () => {
    await stageTree(ws.paths);
    return summarizePatch(ws.paths, BASE_REF, Math.max(ws.policy.maxPatchBytes * 4, 8 * 1024 * 1024));
  });
}

export type RunOutcome = CommandResult & { notes: string[] };

/**
 * Runs `command` in the sandbox, then holds its effect to the rules: changes to protected paths
 * are put back, and a command that broke the limits or grew the workspace past
 * WORKSPACE_MAX_BYTES has its changes undone. `beforeRun` is the write-ahead record.
 */
export function runInWorkspace(ws: Workspace, command: string, options: { signal: AbortSignal; beforeRun?: () => Promise<void> }): Promise<RunOutcome> {
  return ws.exclusive(async () => {
    const before = await stageTree(ws.paths);
    await ws.ensureOwnership();
    await options.beforeRun?.();
    const result = await ws.sandbox.run({ tree: ws.tree, command, user: ws.user, signal: options.signal });
    ws.markDirty();
    const notes: string[] = [];
    if (await treeBytes(ws.tree, ws.maxBytes) > ws.maxBytes) {
      await ws.resetTo(before);
      await gitText(ws.paths, ["clean", "-f", "-d", "-x", "-q"]);
      notes.push(`The workspace grew past WORKSPACE_MAX_BYTES (${ws.maxBytes} bytes): the command's changes were undone and files ignored by .gitignore removed.`);
      return { ...result, notes };
    }
    const after = await stageTree(ws.paths);
    if (after === before) return { ...result, notes };
    const touched = (await gitText(ws.paths, ["diff", "--name-only", "--no-renames", "-z", before, after])).split("\0").filter(Boolean);
    const guardedPaths = touched.filter((p) => protectedBy(ws.policy, p) !== null);
    for (const p of guardedPaths) {
      const existed = (await git(ws.paths, ["cat-file", "-e", `${before}:${p}`])).code === 0;
      if (existed) await gitText(ws.paths, ["checkout", before, "--", p]);
      else await rm(path.join(ws.tree, p), { force: true });
      ws.needsChown = true;
    }
    if (guardedPaths.length) notes.push(`The command changed protected paths; those changes were undone: ${guardedPaths.join(", ")}.`);
    await stageTree(ws.paths);
    const problem = await limitProblem(ws);
    if (problem) {
      await ws.resetTo(before);
      notes.push(`After the command ${problem}; the command's changes to the repository's files were undone.`);
    }
    return { ...result, notes };
  });
}
