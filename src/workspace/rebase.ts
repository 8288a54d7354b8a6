import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { WorkspaceError } from "./errors.js";
import { git, gitText, type GitPaths } from "./git.js";
import { diffTrees, readBlob, type PatchFile } from "./patch.js";
import { BASE_REF, treeFromArchive, type Workspace } from "./workspace.js";

/**
 * A stored patch applied three-way on a newer commit of its branch, in the workspace's own git
 * repository and without any git credentials: the newer commit's files come as an archive (like
 * the snapshot), the patch applied on the snapshot is one side, the newer files the other, the
 * snapshot their merge base. `git merge-tree` merges them in the object store alone (no work
 * tree is touched, the agent's tree included), and what it reports as conflicting is what the
 * reply lists.
 */

export type RebasedFile = PatchFile & { content: Buffer | null };

export type RebaseResult =
  /** The change as it applies on the newer commit: its files relative to that commit. */
  | { kind: "clean"; files: RebasedFile[] }
  | { kind: "conflict"; paths: string[] };

export type RebaseInput = {
  /** The stored `git diff --binary` against the snapshot. */
  diff: string;
  /** The newer commit's files as a gzipped tarball (the forge's archive). */
  download(): Promise<ReadableStream<Uint8Array>>;
  /** WORKSPACE_MAX_BYTES: the newer commit is extracted under the same bound as the snapshot. */
  maxBytes: number;
};

/** A commit of `tree` whose parent is the snapshot, so the snapshot is the merge base of two of them. */
async function commitOnSnapshot(paths: GitPaths, tree: string, message: string): Promise<string> {
  return (await gitText(paths, ["commit-tree", tree, "-p", BASE_REF, "-m", message])).trim();
}

/** Conflicted paths from `merge-tree --write-tree --name-only -z` output (after the tree id). */
function conflictedPaths(stdout: string): string[] {
  return [...new Set(stdout.split("\0").slice(1).filter(Boolean))].sort();
}

export async function rebasePatch(ws: Workspace, input: RebaseInput): Promise<RebaseResult> {
  const oursIndex = { GIT_INDEX_FILE: path.join(ws.root, "rebase-ours.index") };
  const theirsIndex = { GIT_INDEX_FILE: path.join(ws.root, "rebase-theirs.index") };
  const newer: GitPaths = { gitDir: ws.paths.gitDir, tree: path.join(ws.root, "rebase-base") };
  try {
    // Ours: the snapshot with the patch applied, in an index apart from the workspace's own.
    await gitText(ws.paths, ["read-tree", BASE_REF], { env: oursIndex });
    const applied = await git(ws.paths, ["apply", "--cached", "--binary", "--whitespace=nowarn", "-"], { input: input.diff, env: oursIndex });
    if (applied.code !== 0) throw new WorkspaceError("rebuild", `the stored patch does not apply on its own snapshot: ${applied.stderr.trim().slice(0, 300)}`);
    const oursTree = (await gitText(ws.paths, ["write-tree"], { env: oursIndex })).trim();

    // Theirs: the newer commit's files, extracted under the same bounds as the snapshot.
    await rm(newer.tree, { recursive: true, force: true });
    await mkdir(newer.tree, { mode: 0o700 });
    const { tree: theirsTree } = await treeFromArchive(newer, input.download, { maxBytes: input.maxBytes, what: "the newer commit's archive", env: theirsIndex });

    const ours = await commitOnSnapshot(ws.paths, oursTree, "the change on the snapshot");
    const theirs = await commitOnSnapshot(ws.paths, theirsTree, "the branch's newer commit");
    const merged = await git(ws.paths, ["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs]);
    const out = merged.stdout.toString("utf8");
    if (merged.code === 1) return { kind: "conflict", paths: conflictedPaths(out) };
    if (merged.code !== 0) throw new WorkspaceError("git", `git merge-tree failed (${merged.code}): ${merged.stderr.trim().slice(0, 300)}`);
    const tree = out.split("\0")[0]?.trim() ?? "";

    const files: RebasedFile[] = [];
    for (const file of await diffTrees(ws.paths, theirsTree, tree)) {
      files.push({ ...file, content: file.blob === null ? null : await readBlob(ws.paths, file.blob) });
    }
    return { kind: "clean", files };
  } finally {
    await rm(newer.tree, { recursive: true, force: true }).catch(() => undefined);
    await rm(oursIndex.GIT_INDEX_FILE, { force: true }).catch(() => undefined);
    await rm(theirsIndex.GIT_INDEX_FILE, { force: true }).catch(() => undefined);
  }
}
