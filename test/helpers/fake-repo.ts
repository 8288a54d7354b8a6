import { createHash } from "node:crypto";
import { archiveBufferSync, type ArchiveEntry } from "./archives.js";

/**
 * A repository's history in memory, shared by the fake forges' publishing endpoints: commits with
 * their whole file maps, trees, git blobs (with git's real blob ids), branches and their
 * protection. Archives of any commit are built from its files, so a test that moves a branch
 * (someone pushed) gets the forge serving the new files at once.
 */

export type FakeMode = "100644" | "100755" | "120000";
export type FakeRepoFile = { content: Buffer; mode: FakeMode };
export type FakeCommit = { sha: string; tree: string; parents: string[]; message: string; files: Map<string, FakeRepoFile>; at: number };

/** git's blob id of `content`. */
export function gitBlobSha(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function sha1(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

export class FakeRepo {
  readonly commits = new Map<string, FakeCommit>();
  readonly trees = new Map<string, Map<string, FakeRepoFile>>();
  readonly blobs = new Map<string, Buffer>();
  readonly branches = new Map<string, string>();
  /** Branches a push (a ref update, a commit) is refused on. */
  readonly protectedBranches = new Set<string>();
  /** Branch names a rule refuses to create (e.g. "forgebot/"): prefixes. */
  readonly refusedPrefixes: string[] = [];
  defaultBranch = "main";
  #clock = 0;

  /** A repository whose default branch holds `entries` (files and symlinks) in one commit. */
  static from(entries: readonly ArchiveEntry[], branch = "main"): FakeRepo {
    const repo = new FakeRepo();
    repo.defaultBranch = branch;
    const files = new Map<string, FakeRepoFile>();
    for (const e of entries) {
      if (e.type === "File") files.set(e.path, { content: Buffer.from(e.content), mode: (e.mode ?? 0o644) & 0o111 ? "100755" : "100644" });
      if (e.type === "SymbolicLink") files.set(e.path, { content: Buffer.from(e.linkpath), mode: "120000" });
    }
    repo.branches.set(branch, repo.commit([], files, "Initial commit"));
    return repo;
  }

  tree(files: Map<string, FakeRepoFile>): string {
    const entries = [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, f]) => `${f.mode} ${gitBlobSha(f.content)} ${path}`);
    for (const f of files.values()) this.blobs.set(gitBlobSha(f.content), f.content);
    const sha = sha1(`tree\n${entries.join("\n")}`);
    this.trees.set(sha, new Map(files));
    return sha;
  }

  /** A new commit object (on no branch); like a forge, its id differs each time (its time differs). */
  commit(parents: string[], files: Map<string, FakeRepoFile>, message: string): string {
    const tree = this.tree(files);
    const at = ++this.#clock;
    const sha = sha1(`commit\n${tree}\n${parents.join(" ")}\n${at}\n${message}`);
    this.commits.set(sha, { sha, tree, parents, message, files: new Map(files), at });
    return sha;
  }

  /** Someone pushes `changes` (content, or null to delete) onto `branch`; returns the new head. */
  push(branch: string, changes: Record<string, string | null>, message = "A commit pushed meanwhile"): string {
    const head = this.branches.get(branch);
    if (!head) throw new Error(`no branch ${branch}`);
    const files = new Map(this.commits.get(head)!.files);
    for (const [path, content] of Object.entries(changes)) {
      if (content === null) files.delete(path);
      else files.set(path, { content: Buffer.from(content), mode: files.get(path)?.mode ?? "100644" });
    }
    const sha = this.commit([head], files, message);
    this.branches.set(branch, sha);
    return sha;
  }

  get(sha: string): FakeCommit | undefined {
    return this.commits.get(sha);
  }

  /** `ancestor` is `sha` or reachable from it through parents. */
  isAncestor(ancestor: string, sha: string): boolean {
    const seen = new Set<string>();
    const pending = [sha];
    while (pending.length) {
      const current = pending.pop()!;
      if (current === ancestor) return true;
      if (seen.has(current)) continue;
      seen.add(current);
      pending.push(...(this.commits.get(current)?.parents ?? []));
    }
    return false;
  }

  /** The commits of `head` not reachable from `base`, newest first. */
  commitsBetween(base: string, head: string): FakeCommit[] {
    const out: FakeCommit[] = [];
    for (let current: string | undefined = head; current && !this.isAncestor(current, base); current = this.commits.get(current)?.parents[0]) {
      const c = this.commits.get(current);
      if (!c) break;
      out.push(c);
    }
    return out;
  }

  /** The newest commit from `sha` back whose change touched `path` (GitLab's `last_commit_id`). */
  lastCommitFor(sha: string, path: string): string | null {
    for (let current: string | undefined = sha; current; ) {
      const c = this.commits.get(current);
      if (!c) return null;
      const parent = c.parents[0] ? this.commits.get(c.parents[0]) : undefined;
      const now = c.files.get(path);
      const before = parent?.files.get(path);
      if (now && (!before || !before.content.equals(now.content) || before.mode !== now.mode)) return c.sha;
      if (!now) return null;
      current = parent?.sha;
    }
    return null;
  }

  /** The forge's archive of a commit: a gzipped tarball with one top-level directory. */
  archive(sha: string): Buffer | null {
    const c = this.commits.get(sha);
    if (!c) return null;
    const entries: ArchiveEntry[] = [...c.files.entries()].map(([path, f]) =>
      f.mode === "120000" ? { type: "SymbolicLink", path, linkpath: f.content.toString("utf8") } : { type: "File", path, content: f.content, mode: f.mode === "100755" ? 0o755 : 0o644 },
    );
    return archiveBufferSync(entries, `repo-${sha.slice(0, 7)}`);
  }

  /** Branches forgebot made. */
  forgebotBranches(): string[] {
    return [...this.branches.keys()].filter((b) => b.startsWith("forgebot/"));
  }

  /** File contents at a commit, as text. */
  text(sha: string, path: string): string | undefined {
    return this.commits.get(sha)?.files.get(path)?.content.toString("utf8");
  }
}
