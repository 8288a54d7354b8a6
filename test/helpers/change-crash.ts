import { expect } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import type { TestDatabase } from "./db.js";
import { waitFor } from "./bot.js";
import { CHANGE_REPO, NEW_INDEX } from "./change-session.js";
import type { FakeOpenAI, ModelRequest, FakeReply } from "./fake-openai.js";
import { spawnForgebot, type BotProcess } from "./processes.js";

/**
 * A change session whose worker is SIGKILLed while a sandboxed command runs, shared by both
 * forges. The agent writes a file, runs a command that appends to ran.log, then starts a long
 * command; the worker dies during it. The next worker rebuilds the workspace from the snapshot
 * and the recorded effects, records the cut-short command instead of asking the model again or
 * running it again, and the session ends with the same edits.
 */

export const LONG_COMMAND = "touch cut-short.started; sleep 60";

export function crashScript(): (r: ModelRequest) => FakeReply {
  const steps: FakeReply[] = [
    { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
    { kind: "tools", calls: [{ name: "run", input: { command: "echo once >> ran.log" } }] },
    { kind: "tools", calls: [{ name: "run", input: { command: LONG_COMMAND } }] },
    { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
    { kind: "text", text: "Done after a restart." },
  ];
  return (r) => steps[Math.min(r.toolResults, steps.length - 1)]!;
}

export type CrashRun = {
  database: TestDatabase;
  model: FakeOpenAI;
  env: Record<string, string>;
  workspaceDir: string;
  workers: BotProcess[];
  /** Posts the mention (`@forgebot change …`) to the web process. */
  mention(): Promise<void>;
  /** The reply body once posted. */
  reply(): unknown;
  replyBody(reply: unknown): string;
};

export async function crashMidCommand(run: CrashRun): Promise<void> {
  const first = spawnForgebot(["worker"], run.env);
  run.workers.push(first);
  run.model.script = crashScript();
  await run.mention();

  const cut = await waitFor("the long command to start", async () => {
    const { rows } = await run.database.db.query("SELECT id, session_id, status FROM session_commands WHERE command = $1", [LONG_COMMAND]);
    return rows[0];
  }, 45_000);
  const workspace = path.join(run.workspaceDir, String(cut.session_id), "tree");
  await waitFor("the command to run in the workspace", () => existsSync(path.join(workspace, "cut-short.started")), 15_000);
  first.child.kill("SIGKILL");
  await waitFor("the first worker to die", () => first.child.signalCode === "SIGKILL", 15_000);
  // The sandbox died with its worker (--die-with-parent), the command with it.
  await waitFor("the sandboxed command to be gone", () => execFileSync("sh", ["-c", "ps -eo args | grep -c '^sleep 60$' || true"]).toString().trim() === "0", 10_000);
  // The next worker may be another machine: nothing of this workspace is left on disk.
  rmSync(path.join(run.workspaceDir, String(cut.session_id)), { recursive: true, force: true });

  const second = spawnForgebot(["worker"], run.env);
  run.workers.push(second);
  const reply = await waitFor("the reply", run.reply, 60_000);
  const body = run.replyBody(reply);
  expect(body).toContain("Done after a restart.");

  // The step that ran the long command was asked once and never again; no command ran twice.
  expect(run.model.forStep(3)).toHaveLength(1);
  const { rows: commands } = await run.database.db.query("SELECT command, status FROM session_commands WHERE session_id = $1 ORDER BY id", [cut.session_id]);
  expect(commands).toEqual([
    { command: "echo once >> ran.log", status: "finished" },
    { command: LONG_COMMAND, status: "started" },
  ]);
  // The model was told, in a recorded step, that the command was cut short and not run again.
  expect(run.model.forStep(4)[0]!.raw).toContain("It was not run again");
  const { rows: checkpoints } = await run.database.db.query("SELECT kind, delta->'data' AS data FROM checkpoints WHERE session_id = $1 ORDER BY seq", [cut.session_id]);
  expect(checkpoints.map((c) => c.kind)).toEqual(["start", "step", "step", "recovered", "step", "step"]);
  expect(checkpoints[3]!.data).toEqual({ commandIds: [Number(cut.id)] });

  // The same edits, the first command's effect exactly once, the cut command's effect discarded.
  const { rows: [patch] } = await run.database.db.query("SELECT diff, files FROM session_patches WHERE session_id = $1", [cut.session_id]);
  expect(patch.files.map((f: { path: string }) => f.path)).toEqual(["ran.log", "src/index.js", "src/math.js"]);
  expect(patch.diff).toContain("+once\n");
  expect(patch.diff.match(/^\+once$/gm)).toHaveLength(1);
  expect(patch.diff).not.toContain("cut-short.started");
  expect(patch.diff).toContain("+  return a - b;");
  expect(CHANGE_REPO.length).toBeGreaterThan(0);
  const { rows: [session] } = await run.database.db.query("SELECT status, run_seq FROM sessions WHERE id = $1", [cut.session_id]);
  // The change waits for `@forgebot apply`, its workspace (rebuilt by the second worker) kept meanwhile.
  expect(session).toEqual({ status: "plan_approval_required", run_seq: 1 });
  expect(existsSync(path.join(run.workspaceDir, String(cut.session_id)))).toBe(true);
}
