import { afterAll, describe, expect, it } from "@jest/globals";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { WorkspaceRefusal } from "../../../src/workspace/errors.js";
import {
  deleteWorkspaceFile,
  editWorkspaceFile,
  listWorkspaceFiles,
  moveWorkspaceFile,
  readWorkspaceFile,
  runInWorkspace,
  searchWorkspace,
  workspaceDiff,
  writeWorkspaceFile,
} from "../../../src/workspace/operations.js";
import { sweepWorkspaces } from "../../../src/workspace/reaper.js";
import type { ArchiveEntry } from "../../helpers/archives.js";
import { log, openTestWorkspace, scratchDir } from "./support.js";

/**
 * The workspace as the agent's tools use it: paths, exact edits, binary files, the policy
 * (protected paths, limits), the patch, and a workspace rebuilt from its recorded effects.
 */
const scratch = scratchDir();
afterAll(() => scratch.remove());

const REPO: ArchiveEntry[] = [
  { type: "File", path: "README.md", content: "# Demo\n" },
  { type: "File", path: "src/math.js", content: "export function add(a, b) {\n  return a + b;\n}\n\nexport function twice(a) {\n  return a + a;\n}\n" },
  { type: "File", path: "src/dup.txt", content: "same\nsame\n" },
  { type: "File", path: "logo.png", content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]) },
  { type: "File", path: "test.sh", content: "#!/bin/sh\ngrep -q 'a - b' src/math.js\n", mode: 0o755 },
  { type: "File", path: ".github/workflows/ci.yml", content: "on: push\n" },
  { type: "File", path: ".gitignore", content: "node_modules/\n" },
  { type: "SymbolicLink", path: "passwd", linkpath: "/etc/passwd" },
];

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkspaceRefusal);
  return (err as Error).message;
}

describe("workspace tools", () => {
  it("reads text by line range, reports binary files by size, lists and searches", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    expect(await readWorkspaceFile(workspace, "src/math.js", { startLine: 2, endLine: 3 })).toEqual({ kind: "text", path: "src/math.js", text: "  return a + b;\n}", startLine: 2, endLine: 3, totalLines: 7 });
    expect(await readWorkspaceFile(workspace, "logo.png", {})).toEqual({ kind: "binary", path: "logo.png", bytes: 10 });
    const listed = await listWorkspaceFiles(workspace, "", 100);
    expect(listed.files).toEqual([".github/workflows/ci.yml", ".gitignore", "README.md", "logo.png", "src/dup.txt", "src/math.js", "test.sh"]);
    expect((await searchWorkspace(workspace, "return a \\+", { limit: 10 })).matches).toEqual(["src/math.js:2:  return a + b;", "src/math.js:6:  return a + a;"]);
  });

  it("a repository's symlink to /etc/passwd is left out of the snapshot, and said so", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    expect(existsSync(path.join(workspace.tree, "passwd"))).toBe(false);
    expect(workspace.snapshot.skipped).toEqual([{ path: "passwd", reason: "link to an absolute path (/etc/passwd)" }]);
  });

  it("refuses paths with .., absolute paths and symlinks leading outside, with the reason", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    expect(await refusal(readWorkspaceFile(workspace, "../../../etc/passwd", {}))).toContain('may not contain ".."');
    expect(await refusal(writeWorkspaceFile(workspace, "src/../../escape.txt", "x"))).toContain('may not contain ".."');
    expect(await refusal(readWorkspaceFile(workspace, "/etc/passwd", {}))).toContain("absolute paths are refused");
    // A link a command could leave behind.
    symlinkSync("/etc", path.join(workspace.tree, "etc-link"));
    expect(await refusal(readWorkspaceFile(workspace, "etc-link/passwd", {}))).toContain("leads outside the workspace");
    expect(await refusal(writeWorkspaceFile(workspace, "etc-link/evil", "x"))).toContain("leads outside the workspace");
    expect(existsSync("/etc/evil")).toBe(false);
  });

  it("an edit must match exactly once: twice or not at all is refused and nothing changes", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    expect(await refusal(editWorkspaceFile(workspace, "src/dup.txt", "same", "other"))).toBe("old_text matches 2 places in src/dup.txt; include more surrounding lines so it matches exactly one");
    expect(await refusal(editWorkspaceFile(workspace, "src/math.js", "a * b", "a / b"))).toContain("old_text was not found in src/math.js");
    expect((await workspaceDiff(workspace)).filesChanged).toBe(0);
    expect((await editWorkspaceFile(workspace, "src/math.js", "return a + b;", "return a - b;")).notes).toEqual(["Edited src/math.js at line 2."]);
  });

  it("protected paths are refused with a reason; a command's change to them is undone", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir, protectedGlobs: ["secrets/**"] });
    expect(await refusal(writeWorkspaceFile(workspace, ".github/workflows/ci.yml", "on: [push, pull_request]\n"))).toContain("protected path (.github/workflows/**): forgebot never edits CI definitions");
    expect(await refusal(writeWorkspaceFile(workspace, ".gitlab-ci.yml", "x: 1\n"))).toContain("protected path (.gitlab-ci.yml)");
    expect(await refusal(writeWorkspaceFile(workspace, "secrets/token", "x"))).toContain("the repository's .forgebot.yml protects it");
    expect(await refusal(moveWorkspaceFile(workspace, "README.md", ".github/workflows/readme.yml"))).toContain("protected path");
    const run = await runInWorkspace(workspace, "echo 'on: pull_request' > .github/workflows/ci.yml && echo changed >> README.md", { signal: new AbortController().signal });
    expect(run.outcome).toBe("exit_zero");
    expect(run.notes).toEqual(["The command changed protected paths; those changes were undone: .github/workflows/ci.yml."]);
    expect(readFileSync(path.join(workspace.tree, ".github/workflows/ci.yml"), "utf8")).toBe("on: push\n");
    expect((await workspaceDiff(workspace)).files.map((f) => f.path)).toEqual(["README.md"]);
  });

  it("CHANGE_MAX_FILES and CHANGE_MAX_PATCH_BYTES: a change past them is undone and refused", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir, limits: { maxFiles: 2, maxPatchBytes: 2000 } });
    await writeWorkspaceFile(workspace, "one.txt", "1\n");
    await writeWorkspaceFile(workspace, "two.txt", "2\n");
    expect(await refusal(writeWorkspaceFile(workspace, "three.txt", "3\n"))).toBe("the change would touch 3 files, more than CHANGE_MAX_FILES (2); the change was not made");
    expect(existsSync(path.join(workspace.tree, "three.txt"))).toBe(false);
    expect(await refusal(writeWorkspaceFile(workspace, "one.txt", "x".repeat(5000)))).toContain("larger than CHANGE_MAX_PATCH_BYTES (2000 bytes)");
    expect(readFileSync(path.join(workspace.tree, "one.txt"), "utf8")).toBe("1\n");
    const run = await runInWorkspace(workspace, "for i in 1 2 3 4; do echo $i > n$i.txt; done", { signal: new AbortController().signal });
    expect(run.notes.join(" ")).toContain("more than CHANGE_MAX_FILES (2); the command's changes to the repository's files were undone");
    expect(existsSync(path.join(workspace.tree, "n1.txt"))).toBe(false);
  });

  it("writes, edits, deletes and moves make a patch that git apply takes; ignored files stay out", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    await writeWorkspaceFile(workspace, "docs/new.md", "hello\n");
    await editWorkspaceFile(workspace, "src/math.js", "return a + a;", "return 2 * a;");
    await deleteWorkspaceFile(workspace, "src/dup.txt");
    await moveWorkspaceFile(workspace, "README.md", "docs/README.md");
    expect((await writeWorkspaceFile(workspace, "node_modules/x.js", "x")).notes).toContain("node_modules/x.js is ignored by .gitignore: it will not be part of the patch.");
    const patch = await workspaceDiff(workspace);
    expect(patch.files.map((f) => [f.status, f.path, f.oldPath])).toEqual([
      ["renamed", "docs/README.md", "README.md"],
      ["added", "docs/new.md", null],
      ["deleted", "src/dup.txt", null],
      ["modified", "src/math.js", null],
    ]);
    expect(patch.stat).toContain("4 files changed");
    // The patch applies to a fresh copy of the snapshot.
    const { workspace: fresh } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    const applied = await runInWorkspace(fresh, `cat > /tmp/p.diff <<'PATCH'\n${patch.diff}\nPATCH\ngit --version >/dev/null 2>&1 && git apply /tmp/p.diff && cat docs/new.md`, { signal: new AbortController().signal });
    expect(applied.outcome).toBe("exit_zero");
    expect(applied.output).toContain("hello");
  });

  it("a workspace lost with its worker is rebuilt from the snapshot plus the recorded effects", async () => {
    const first = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    await writeWorkspaceFile(first.workspace, "a.txt", "A\n");
    const effect1 = (await first.workspace.takeEffect())!;
    await runInWorkspace(first.workspace, "echo ran >> ran.log && chmod +x a.txt", { signal: new AbortController().signal });
    const effect2 = (await first.workspace.takeEffect())!;
    expect(await first.workspace.takeEffect()).toBeNull();
    const before = await workspaceDiff(first.workspace);
    // Same worker, a step cut short: what went further than the checkpoint is put back.
    writeFileSync(path.join(first.workspace.tree, "partial.txt"), "from a step that was never recorded\n");
    const reset = await openTestWorkspace({ entries: REPO, dir: scratch.dir, store: first.store, sessionId: first.sessionId, effects: [effect1, effect2] });
    expect(existsSync(path.join(reset.workspace.tree, "partial.txt"))).toBe(false);
    expect(reset.downloads()).toBe(0);
    // Another worker: nothing on disk, the snapshot is downloaded again and the effects applied.
    await reset.workspace.remove();
    const rebuilt = await openTestWorkspace({ entries: REPO, dir: scratch.dir, store: first.store, sessionId: first.sessionId, effects: [effect1, effect2] });
    expect(rebuilt.downloads()).toBe(1);
    const after = await workspaceDiff(rebuilt.workspace);
    expect(after.diff).toBe(before.diff);
    expect(readFileSync(path.join(rebuilt.workspace.tree, "ran.log"), "utf8")).toBe("ran\n");
    expect(after.files.find((f) => f.path === "a.txt")?.newMode).toBe("100755");
  });

  it("a repository a command nests in the tree cannot make the worker's git run anything", async () => {
    const { workspace } = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    const marker = path.join(scratch.dir, `pwned-${process.pid}`);
    const hook = `touch ${marker}; echo`;
    const setup = await runInWorkspace(
      workspace,
      // A .git/config at the root (what a worker keeping its repository in the tree would read), and a nested repository.
      `mkdir .git && printf '[core]\\n\\tfsmonitor = ${hook}\\n' > .git/config && mkdir nested && cd nested && git init -q && git config core.fsmonitor '${hook}' && git config core.hooksPath /workspace/nested/hooks && echo x > f && git add f && git -c user.name=a -c user.email=a@b commit -qm x && echo change > f`,
      { signal: new AbortController().signal },
    );
    expect(setup.outcome).toBe("exit_zero");
    await workspaceDiff(workspace);
    await listWorkspaceFiles(workspace, "", 100);
    await searchWorkspace(workspace, "change", { limit: 10 });
    await workspace.takeEffect();
    expect(existsSync(marker)).toBe(false);
  });

  it("the sweep removes workspaces of ended sessions and keeps active ones", async () => {
    const ended = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    const waiting = await openTestWorkspace({ entries: REPO, dir: scratch.dir });
    waiting.store.active.add(waiting.sessionId);
    const removed = await sweepWorkspaces(scratch.dir, waiting.store, log);
    expect(removed).toContain(ended.sessionId);
    expect(existsSync(ended.workspace.root)).toBe(false);
    expect(existsSync(waiting.workspace.root)).toBe(true);
  });
});
