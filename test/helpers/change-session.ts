import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Db } from "../../src/storage/pool.js";
import type { ArchiveEntry } from "./archives.js";
import type { FakeReply, ModelRequest } from "./fake-openai.js";

/**
 * The repository and the scripted model of the change-session acceptance tests, shared by both
 * forges: the agent writes one file, edits another, runs the repository's test script in the
 * sandbox, and answers.
 */

export const CHANGE_SHA = "c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff";

export const CHANGE_REPO: ArchiveEntry[] = [
  { type: "File", path: "README.md", content: "# Calculator\n" },
  { type: "File", path: "src/math.js", content: "export function sub(a, b) {\n  return a + b;\n}\n" },
  // A hostile entry: left out of the snapshot, said to the agent and on the page.
  { type: "SymbolicLink", path: "passwd", linkpath: "/etc/passwd" },
  { type: "File", path: "test.sh", content: "#!/bin/sh\nset -e\ngrep -q 'return a - b;' src/math.js\ngrep -q 'sub' src/index.js\necho 'all 2 checks passed'\n", mode: 0o755 },
];

/** The files the scripted agent writes, as the patch must hold them. */
export const NEW_INDEX = "export { sub } from './math.js';\n";

/** A model that edits two files, runs `sh test.sh`, then answers; `tail` decides later steps. */
export function changeScript(options: { first?: FakeReply } = {}): (r: ModelRequest) => FakeReply {
  const steps: FakeReply[] = [
    ...(options.first ? [options.first] : []),
    { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
    { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
    { kind: "tools", calls: [{ name: "run", input: { command: "sh test.sh" } }] },
    { kind: "text", text: "Fixed `sub` to subtract and exported it from `src/index.js`; `sh test.sh` passes." },
  ];
  return (r) => steps[Math.min(r.toolResults, steps.length - 1)]!;
}

/** A WORKSPACE_DIR for a test file, reachable by the sandbox's user. */
export function workspaceRoot(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "forgebot-change-"));
  chmodSync(dir, 0o711);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Turns the `code_changes` flag on for one actor (a user or a repository). */
export async function enableChanges(db: Db, actor: string): Promise<void> {
  await db.query("INSERT INTO feature_gates (flag_name, gate_kind, value) VALUES ('code_changes', 'actors', $1) ON CONFLICT DO NOTHING", [actor]);
}

/** `git apply --check` of `patch` on a checkout holding CHANGE_REPO's files: true when it applies. */
export function appliesToRepo(patch: string): boolean {
  const dir = mkdtempSync(path.join(tmpdir(), "forgebot-apply-"));
  try {
    for (const entry of CHANGE_REPO) {
      if (entry.type !== "File") continue;
      mkdirSync(path.dirname(path.join(dir, entry.path)), { recursive: true });
      writeFileSync(path.join(dir, entry.path), entry.content, { mode: entry.mode ?? 0o644 });
    }
    execFileSync("git", ["init", "-q"], { cwd: dir });
    execFileSync("git", ["apply", "--check", "-"], { cwd: dir, input: patch });
    execFileSync("git", ["apply", "-"], { cwd: dir, input: patch });
    return execFileSync("cat", ["src/index.js"], { cwd: dir }).toString() === NEW_INDEX;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
