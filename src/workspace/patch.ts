import { git, gitText, type GitPaths } from "./git.js";

/**
 * The change a workspace holds, against its snapshot commit: `git diff --binary` (what
 * `git apply` takes), the `--stat` text, and per file what a publish needs — status, modes,
 * the new blob and its content.
 */

export type FileStatus = "added" | "modified" | "deleted" | "renamed" | "type_changed";

export type PatchFile = {
  path: string;
  /** The path before a rename. */
  oldPath: string | null;
  status: FileStatus;
  /** Git modes: 100644, 100755, 120000 (symlink); "000000" when absent. */
  oldMode: string;
  newMode: string;
  /** The new content's blob id (null for a deletion). */
  blob: string | null;
  binary: boolean;
  insertions: number;
  deletions: number;
};

export type PatchSummary = {
  diff: string;
  stat: string;
  bytes: number;
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: PatchFile[];
};

const STATUS: Record<string, FileStatus> = { A: "added", M: "modified", D: "deleted", R: "renamed", T: "type_changed", C: "added" };

/** Changed paths (new and old of renames) between the snapshot and the staged tree. */
export async function changedPaths(paths: GitPaths, base: string): Promise<string[]> {
  const out = await gitText(paths, ["diff", "--cached", "--name-only", "--no-renames", "-z", base]);
  return out.split("\0").filter(Boolean);
}

/**
 * Bytes of the patch against the snapshot, counted up to `limit` (+1 means "more than the limit").
 */
export async function patchBytes(paths: GitPaths, base: string, limit: number): Promise<number> {
  const result = await git(paths, ["diff", "--cached", "--binary", "--full-index", "-M", base], { maxBytes: limit });
  return result.overflow ? limit + 1 : result.stdout.length;
}

function parseRaw(raw: string): Omit<PatchFile, "binary" | "insertions" | "deletions">[] {
  // -z --raw: ":oldmode newmode oldsha newsha status\0path\0[newpath\0]"
  const parts = raw.split("\0");
  const files: Omit<PatchFile, "binary" | "insertions" | "deletions">[] = [];
  for (let i = 0; i < parts.length; ) {
    const head = parts[i++];
    if (!head?.startsWith(":")) continue;
    const [oldMode = "", newMode = "", , newSha = "", statusField = ""] = head.slice(1).split(" ");
    const letter = statusField.charAt(0);
    const first = parts[i++] ?? "";
    const renamed = letter === "R" || letter === "C";
    const second = renamed ? (parts[i++] ?? "") : null;
    const status = STATUS[letter] ?? "modified";
    files.push({
      path: second ?? first,
      oldPath: letter === "R" ? first : null,
      status,
      oldMode,
      newMode,
      blob: status === "deleted" ? null : newSha,
    });
  }
  return files;
}

function parseNumstat(raw: string): Map<string, { insertions: number; deletions: number; binary: boolean }> {
  // -z --numstat: "ins\tdel\tpath\0" or, for renames, "ins\tdel\t\0old\0new\0"
  const stats = new Map<string, { insertions: number; deletions: number; binary: boolean }>();
  const parts = raw.split("\0");
  for (let i = 0; i < parts.length; ) {
    const line = parts[i++];
    if (!line) continue;
    const [ins = "", del = "", path = ""] = line.split("\t");
    let target = path;
    if (path === "") {
      i++;
      target = parts[i++] ?? "";
    }
    const binary = ins === "-";
    stats.set(target, { insertions: binary ? 0 : Number(ins), deletions: binary ? 0 : Number(del), binary });
  }
  return stats;
}

/** The whole summary of the staged tree against `base` (call after staging). */
export async function summarizePatch(paths: GitPaths, base: string, maxDiffBytes: number): Promise<PatchSummary> {
  const diff = await gitText(paths, ["diff", "--cached", "--binary", "--full-index", "-M", base], { maxBytes: maxDiffBytes });
  const stat = diff ? await gitText(paths, ["diff", "--cached", "--stat=120", "-M", base]) : "";
  const raw = parseRaw(await gitText(paths, ["diff", "--cached", "--raw", "-z", "-M", "--abbrev=40", base]));
  const numstat = parseNumstat(await gitText(paths, ["diff", "--cached", "--numstat", "-z", "-M", base]));
  const files: PatchFile[] = raw.map((f) => ({ ...f, ...(numstat.get(f.path) ?? { insertions: 0, deletions: 0, binary: false }) }));
  return {
    diff,
    stat: stat.trimEnd(),
    bytes: Buffer.byteLength(diff),
    filesChanged: files.length,
    insertions: files.reduce((n, f) => n + f.insertions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    files,
  };
}

/** The files that differ between two trees (or commits) of the repository, renames found. */
export async function diffTrees(paths: GitPaths, from: string, to: string): Promise<PatchFile[]> {
  const raw = parseRaw(await gitText(paths, ["diff", "--raw", "-z", "-M", "--abbrev=40", from, to]));
  const numstat = parseNumstat(await gitText(paths, ["diff", "--numstat", "-z", "-M", from, to]));
  return raw.map((f) => ({ ...f, ...(numstat.get(f.path) ?? { insertions: 0, deletions: 0, binary: false }) }));
}

/** The content of a blob of the workspace's repository. */
export async function readBlob(paths: GitPaths, blob: string): Promise<Buffer> {
  const result = await git(paths, ["cat-file", "blob", blob]);
  if (result.code !== 0) throw new Error(`blob ${blob} could not be read: ${result.stderr.trim()}`);
  return result.stdout;
}
