import { expect } from "@jest/globals";
import type { TestBot } from "./bot.js";
import { waitFor } from "./bot.js";
import { NEW_INDEX } from "./change-session.js";
import type { FakeReply, ModelRequest } from "./fake-openai.js";
import type { FakeRepo } from "./fake-repo.js";
import { spawnForgebot, stopProcess, type BotProcess } from "./processes.js";
import { waitForQuiet } from "./quiet.js";

/**
 * A worker SIGKILLed right after the forge applied one write of a publish, before it could record
 * it; a new worker picks the run up (CHANGE_APPROVAL=never: the publish is part of the run) and
 * must end with exactly one branch, one commit on it, one pull/merge request and one reply.
 * Shared by github/publish-crash.test.ts and gitlab/publish-crash.test.ts.
 */

/** The agent: a text file, a binary file made by a command (a blob of its own on GitHub, base64 on GitLab), an edit, an answer. */
export function crashPublishScript(): (r: ModelRequest) => FakeReply {
  const steps: FakeReply[] = [
    { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
    // Binary content comes from a command (a tool's JSON input carries text only).
    { kind: "tools", calls: [{ name: "run", input: { command: "mkdir -p assets && printf '\\000\\001\\002 not text' > assets/logo.bin" } }] },
    { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
    { kind: "text", text: "Fixed sub, exported it, and added the logo." },
  ];
  return (r) => steps[Math.min(r.toolResults, steps.length - 1)]!;
}

export type PublishRequestSeen = { method: string; path: string; body: Record<string, unknown> };

export type PublishCrashRun = {
  env: Record<string, string>;
  web: TestBot;
  workers: BotProcess[];
  repo: FakeRepo;
  /** Arms the kill: called for every forge request after the fake applied it. */
  onApplied(hook: (r: PublishRequestSeen) => void): void;
  killAt: (r: PublishRequestSeen) => boolean;
  mention(): Promise<void>;
  replies(): string[];
  startedNotes(): string[];
  openedChangeRequests(): { head: string; base: string; draft: boolean }[];
};

export async function crashDuringPublish(run: PublishCrashRun): Promise<void> {
  const main = run.repo.branches.get("main")!;
  const first = spawnForgebot(["worker"], run.env);
  run.workers.push(first);
  let killed = false;
  run.onApplied((r) => {
    if (killed || !run.killAt(r)) return;
    killed = true;
    // The forge has applied the write; the worker dies before it can record it.
    first.child.kill("SIGKILL");
  });
  await run.mention();
  try {
    await waitFor("the first worker to be killed at the publish step", () => first.child.signalCode === "SIGKILL", 40_000);
  } catch (err: unknown) {
    const { rows } = await run.web.bot.db.query("SELECT session_id, kind, data FROM session_events ORDER BY id");
    process.stderr.write(`${JSON.stringify(rows, null, 1)}\n${first.output().slice(-5000)}\n`);
    throw err;
  }

  const second = spawnForgebot(["worker"], run.env);
  run.workers.push(second);
  const reply = await waitFor("the reply", () => run.replies()[0], 90_000);
  if (!/Opened draft/.test(reply)) {
    const { rows } = await run.web.bot.db.query("SELECT kind, data FROM session_events ORDER BY id");
    process.stderr.write(`${JSON.stringify(rows.filter((r) => r.kind === "error" || r.kind.startsWith("publish")), null, 1)}\n${first.output().slice(-3000)}\n${second.output().slice(-3000)}\n`);
  }
  await waitForQuiet(run.web, { timeoutMs: 60_000 });

  expect(run.replies()).toHaveLength(1);
  expect(reply).toMatch(/Opened draft (pull|merge) request [#!]\d+/);
  expect(run.startedNotes()).toEqual([]);
  const branches = run.repo.forgebotBranches();
  expect(branches).toHaveLength(1);
  const commits = run.repo.commitsBetween(main, run.repo.branches.get(branches[0]!)!);
  expect(commits).toHaveLength(1);
  expect(commits[0]!.parents).toEqual([main]);
  expect(run.repo.text(commits[0]!.sha, "src/index.js")).toBe(NEW_INDEX);
  expect(run.repo.get(commits[0]!.sha)!.files.get("assets/logo.bin")!.content.equals(Buffer.from("\u0000\u0001\u0002 not text"))).toBe(true);
  expect(run.openedChangeRequests()).toEqual([{ head: branches[0], base: "main", draft: true }]);
  expect(await stopProcess(second)).toBe(0);
}
