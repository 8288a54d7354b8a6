import { describe, expect, it } from "@jest/globals";
import type { Checkpoint } from "../../../src/agent/checkpoints.js";
import { recordedEffects, recoveredCommandMessages, unrecordedCommands } from "../../../src/agent/flows/change-recovery.js";
import type { CommandRecord } from "../../../src/workspace/store.js";

function checkpoint(seq: number, delta: Checkpoint["delta"]): Checkpoint {
  return { sessionId: 1, seq, parentSeq: seq === 1 ? null : seq - 1, delta, model: null, usage: {} as Checkpoint["usage"], createdAt: new Date() };
}
function step(seq: number, callIds: string[], effects?: unknown): Checkpoint {
  return checkpoint(seq, {
    kind: "step",
    run: 1,
    finishReason: "tool-calls",
    messages: [{ role: "tool", content: callIds.map((id) => ({ type: "tool-result" as const, toolCallId: id, toolName: "run", output: { type: "text" as const, value: "ok" } })) }],
    ...(effects ? { effects } : {}),
  });
}
function command(id: number, afterSeq: number, toolCallId: string, status: CommandRecord["status"] = "finished"): CommandRecord {
  return { id, sessionId: 1, run: 1, afterSeq, toolCallId, command: `cmd ${id}`, status, outcome: status === "finished" ? "exit_zero" : null, exitCode: status === "finished" ? 0 : null, signal: null, durationMs: 5, output: "out", startedAt: new Date(), finishedAt: null };
}

describe("commands cut short by a crash", () => {
  const start = checkpoint(1, { kind: "start", run: 1, messages: [{ role: "user", content: "go" }], history: [] });
  it("a command is recorded when the checkpoint after its step holds its result", () => {
    const chain = [start, step(2, ["call_1"]), step(3, ["call_2"])];
    expect(unrecordedCommands([command(1, 1, "call_1"), command(2, 2, "call_2")], chain)).toEqual([]);
  });
  it("a command whose step never got its checkpoint is cut short, even if its id shows up later", () => {
    const chain = [start, step(2, ["call_1"]), step(3, ["call_9"]), step(4, ["call_2"])];
    const cut = command(2, 2, "call_2", "started");
    expect(unrecordedCommands([command(1, 1, "call_1"), cut], chain)).toEqual([cut]);
  });
  it("once a recovered checkpoint names it, it is closed for good", () => {
    const recovered = checkpoint(3, { kind: "recovered", run: 1, messages: [], reason: "r", data: { commandIds: [2] } });
    expect(unrecordedCommands([command(2, 2, "call_2", "started")], [start, step(2, ["call_1"]), recovered])).toEqual([]);
  });
  it("the recovered step says the command was not run again, with its output when it had finished", () => {
    const [assistant, tool] = recoveredCommandMessages([command(5, 3, "call_x")]);
    expect(assistant).toEqual({ role: "assistant", content: [{ type: "tool-call", toolCallId: "recovered-5", toolName: "run", input: { command: "cmd 5" } }] });
    const text = JSON.stringify(tool);
    expect(text).toContain("It was not run again");
    expect(text).toContain("exit code 0");
  });
  it("workspace effects are read from the chain in order", () => {
    const e1 = { tree: { from: "t0", to: "t1", patch: "p1" } };
    const e2 = { tree: { from: "t1", to: "t2", patch: "p2" } };
    expect(recordedEffects([start, step(2, [], e1), step(3, []), step(4, [], e2)])).toEqual([e1.tree, e2.tree]);
  });
});
