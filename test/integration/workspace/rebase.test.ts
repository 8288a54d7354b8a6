import { afterAll, describe, expect, it } from "@jest/globals";
import { readFileSync } from "node:fs";
import path from "node:path";
import { deleteWorkspaceFile, editWorkspaceFile, moveWorkspaceFile, workspaceDiff, writeWorkspaceFile } from "../../../src/workspace/operations.js";
import { rebasePatch } from "../../../src/workspace/rebase.js";
import { archiveBuffer, webStream, type ArchiveEntry } from "../../helpers/archives.js";
import { openTestWorkspace, scratchDir } from "./support.js";

/**
 * A stored patch applied three-way on a newer commit of its branch, in the workspace's own git
 * repository: what changed on both sides in different places merges; the same lines changed on
 * both sides is a conflict naming the file; the agent's tree is never touched.
 */
const scratch = scratchDir();
afterAll(() => scratch.remove());

const BASE: ArchiveEntry[] = [
  { type: "File", path: "README.md", content: "# Demo\n" },
  { type: "File", path: "src/math.js", content: "export function add(a, b) {\n  return a + b;\n}\n\nexport function twice(a) {\n  return a + a;\n}\n" },
  { type: "File", path: "src/old.js", content: "export const old = 1;\n" },
  { type: "File", path: "notes.txt", content: "one\ntwo\nthree\n" },
];

/** The base with `changes` (content, or null to delete) applied: what someone pushed meanwhile. */
function newer(changes: Record<string, string | null>): ArchiveEntry[] {
  const kept = BASE.filter((e) => !(e.path in changes));
  const added = Object.entries(changes).flatMap(([p, content]) => (content === null ? [] : [{ type: "File" as const, path: p, content }]));
  return [...kept, ...added];
}

async function changed() {
  const { workspace } = await openTestWorkspace({ entries: BASE, dir: scratch.dir });
  await editWorkspaceFile(workspace, "src/math.js", "return a + a;", "return 2 * a;");
  await writeWorkspaceFile(workspace, "src/new.js", "export const fresh = true;\n");
  await moveWorkspaceFile(workspace, "src/old.js", "src/renamed.js");
  await deleteWorkspaceFile(workspace, "notes.txt");
  const patch = await workspaceDiff(workspace);
  return { workspace, patch };
}

describe("applying a patch three-way on a moved base", () => {
  it("merges changes made elsewhere and returns the change's files against the newer commit", async () => {
    const { workspace, patch } = await changed();
    const treeBefore = readFileSync(path.join(workspace.tree, "src/math.js"), "utf8");
    const archive = await archiveBuffer(newer({ "README.md": "# Demo v2\n", "src/math.js": "// Maths.\nexport function add(a, b) {\n  return a + b;\n}\n\nexport function twice(a) {\n  return a + a;\n}\n" }));
    const result = await rebasePatch(workspace, { diff: patch.diff, download: async () => webStream(archive), maxBytes: 10 * 1024 * 1024 });
    expect(result.kind).toBe("clean");
    if (result.kind !== "clean") return;
    const byPath = new Map(result.files.map((f) => [f.path, f]));
    expect([...byPath.keys()].sort()).toEqual(["notes.txt", "src/math.js", "src/new.js", "src/renamed.js"]);
    expect(byPath.get("src/math.js")!.content!.toString()).toBe("// Maths.\nexport function add(a, b) {\n  return a + b;\n}\n\nexport function twice(a) {\n  return 2 * a;\n}\n");
    expect(byPath.get("src/new.js")).toMatchObject({ status: "added" });
    expect(byPath.get("src/renamed.js")).toMatchObject({ status: "renamed", oldPath: "src/old.js" });
    expect(byPath.get("notes.txt")).toMatchObject({ status: "deleted", content: null });
    // README's newer content is the newer commit's own: not part of the change.
    expect(byPath.has("README.md")).toBe(false);
    // The agent's tree is as it was; the scratch directories are gone.
    expect(readFileSync(path.join(workspace.tree, "src/math.js"), "utf8")).toBe(treeBefore);
    expect((await workspaceDiff(workspace)).diff).toBe(patch.diff);
  });

  it("the same lines changed on both sides is a conflict naming the file", async () => {
    const { workspace, patch } = await changed();
    const archive = await archiveBuffer(newer({ "src/math.js": "export function add(a, b) {\n  return a + b;\n}\n\nexport function twice(a) {\n  return a << 1;\n}\n" }));
    const result = await rebasePatch(workspace, { diff: patch.diff, download: async () => webStream(archive), maxBytes: 10 * 1024 * 1024 });
    expect(result).toEqual({ kind: "conflict", paths: ["src/math.js"] });
  });

  it("a file the change deletes that was changed meanwhile is a conflict too", async () => {
    const { workspace, patch } = await changed();
    const archive = await archiveBuffer(newer({ "notes.txt": "one\ntwo\nthree\nfour\n" }));
    const result = await rebasePatch(workspace, { diff: patch.diff, download: async () => webStream(archive), maxBytes: 10 * 1024 * 1024 });
    expect(result).toEqual({ kind: "conflict", paths: ["notes.txt"] });
  });
});
