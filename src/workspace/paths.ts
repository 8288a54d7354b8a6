import { lstat, realpath } from "node:fs/promises";
import path from "node:path";
import { WorkspaceRefusal } from "./errors.js";

/**
 * Paths the agent names are relative to the workspace root. Absolute paths, `..` segments, NUL
 * bytes and the reserved `.git` name are refused before anything touches the disk; symlinks are
 * followed only while they stay inside the workspace.
 */

/** Checks a path the agent gave and returns it normalized (`a/b/c`, no leading `./`). "" is the root. */
export function cleanRelativePath(given: string): string {
  const raw = given.trim().replace(/\\/g, "/");
  if (raw.includes("\u0000")) throw new WorkspaceRefusal("paths may not contain NUL bytes");
  if (raw.startsWith("/") || /^[A-Za-z]:\//.test(raw)) throw new WorkspaceRefusal(`${given}: absolute paths are refused; give a path relative to the repository root`);
  const segments = raw.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw new WorkspaceRefusal(`${given}: paths may not contain ".."`);
  if (segments.includes(".git")) throw new WorkspaceRefusal(`${given}: paths named .git are reserved`);
  return segments.join("/");
}

function inside(root: string, target: string): boolean {
  return target === root || target.startsWith(`${root}${path.sep}`);
}

async function exists(target: string): Promise<boolean> {
  try {
    await lstat(target);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path for `relative` under `root` after following symlinks, refused when any
 * link on the way leads outside. For a path that does not exist yet, its nearest existing
 * ancestor is checked (a write creates the rest as plain directories).
 */
export async function resolveInside(root: string, relative: string): Promise<string> {
  const rootReal = await realpath(root);
  const clean = cleanRelativePath(relative);
  const lexical = path.join(rootReal, clean);
  let probe = lexical;
  const missing: string[] = [];
  while (!(await exists(probe))) {
    missing.unshift(path.basename(probe));
    probe = path.dirname(probe);
  }
  let real: string;
  try {
    real = await realpath(probe);
  } catch {
    // A dangling symlink: where it points decides, and it cannot be followed safely.
    throw new WorkspaceRefusal(`${clean}: a symbolic link on this path points to something that does not exist`);
  }
  if (!inside(rootReal, real)) throw new WorkspaceRefusal(`${clean}: a symbolic link on this path leads outside the workspace`);
  return path.join(real, ...missing);
}

/**
 * Like resolveInside, but the last segment is not followed: deleting or moving a symlink acts on
 * the link itself, never on what it points to.
 */
export async function resolveEntryInside(root: string, relative: string): Promise<string> {
  const clean = cleanRelativePath(relative);
  if (clean === "") throw new WorkspaceRefusal("the repository root itself cannot be deleted or moved");
  const parent = await resolveInside(root, path.posix.dirname(clean) === "." ? "" : path.posix.dirname(clean));
  return path.join(parent, path.posix.basename(clean));
}

/** The path of `absolute` relative to the workspace root, with forward slashes. */
export function relativeTo(root: string, absolute: string): string {
  return path.relative(root, absolute).split(path.sep).join("/");
}
