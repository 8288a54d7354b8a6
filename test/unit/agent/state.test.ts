import { describe, expect, it } from "@jest/globals";
import type { ModelMessage } from "ai";
import { chainOf, type Checkpoint, type CheckpointDelta } from "../../../src/agent/checkpoints.js";
import { estimateTokens, fitToBudget, memoryMessages } from "../../../src/agent/memory.js";
import { rebuildState } from "../../../src/agent/state.js";

const usage = (inputTokens = 0) => ({ inputTokens, outputTokens: 1, cachedInputTokens: 0, durationMs: 10 });

function cp(seq: number, delta: CheckpointDelta, parentSeq: number | null = seq === 1 ? null : seq - 1): Checkpoint {
  return { sessionId: 1, seq, parentSeq, delta, model: { name: "m", provider: "openai", model: "x" }, usage: usage(seq), createdAt: new Date() };
}

const user = (text: string): ModelMessage => ({ role: "user", content: text });
const call = (id: string, toolName: string, input: unknown): ModelMessage => ({ role: "assistant", content: [{ type: "tool-call", toolCallId: id, toolName, input }] });
const result = (id: string, toolName: string, value: string): ModelMessage => ({ role: "tool", content: [{ type: "tool-result", toolCallId: id, toolName, output: { type: "text", value } }] });
const say = (text: string): ModelMessage => ({ role: "assistant", content: [{ type: "text", text }] });

const start = cp(1, { kind: "start", run: 1, messages: [user("REQUEST")], history: [{ sessionId: 9, seq: 4 }] });
const toolStep = cp(2, { kind: "step", run: 1, messages: [call("c1", "read_file", { path: "a" }), result("c1", "read_file", "FILE")], finishReason: "tool-calls" });
const askStep = cp(3, { kind: "step", run: 1, messages: [say("Let me ask."), call("c2", "ask_user", { question: "WHICH?" })], finishReason: "tool-calls" });
const answer = cp(4, { kind: "input", run: 2, messages: [result("c2", "ask_user", "@bob answered:\n\nTHIS ONE")] });
const interrupted = cp(5, { kind: "interrupted", run: 2, reason: "shutdown" });
const finalStep = cp(6, { kind: "step", run: 2, messages: [say("FINAL")], finishReason: "stop" });

describe("rebuilding a session from its checkpoint chain", () => {
  it("replays deltas into messages, totals, steps, a pending question and the final answer", () => {
    const paused = rebuildState([start, toolStep, askStep]);
    expect(paused).toMatchObject({ lastSeq: 3, started: true, steps: 2, history: [{ sessionId: 9, seq: 4 }], pendingQuestion: { toolCallId: "c2", question: "WHICH?" }, final: null });
    expect(paused.totals).toEqual({ inputTokens: 6, outputTokens: 3, cachedInputTokens: 0, durationMs: 30 });

    const done = rebuildState([start, toolStep, askStep, answer, interrupted, finalStep]);
    expect(done).toMatchObject({ lastSeq: 6, steps: 3, pendingQuestion: null, inputRuns: [2], final: { text: "FINAL" } });
    expect(done.messages).toHaveLength(1 + 2 + 2 + 1 + 1);
  });

  it("a step ending on a tool without a result leaves it pending for the flow; answered tools do not", () => {
    expect(rebuildState([start, toolStep]).pendingCall).toBeNull();
    expect(rebuildState([start, toolStep, askStep]).pendingCall).toEqual({ toolCallId: "c2", toolName: "ask_user", input: { question: "WHICH?" } });
    const submit = cp(3, { kind: "step", run: 1, messages: [call("c3", "submit_review", { summary: "S" })], finishReason: "tool-calls" });
    expect(rebuildState([start, toolStep, submit])).toMatchObject({ pendingCall: { toolName: "submit_review", input: { summary: "S" } }, pendingQuestion: null, final: null });
    expect(rebuildState([start, toolStep, askStep, answer]).pendingCall).toBeNull();
  });

  it("a continuation answers the pending call, asks the next request and, with a new window, hides what came before", () => {
    const submit = cp(3, { kind: "step", run: 1, messages: [call("c3", "submit_review", { findings: [] })], finishReason: "tool-calls" });
    const next = cp(4, { kind: "continue", run: 1, key: "group-1", messages: [result("c3", "submit_review", "Recorded."), user("GROUP 2")], window: true });
    const state = rebuildState([start, toolStep, submit, next]);
    expect(state).toMatchObject({ pendingCall: null, pendingQuestion: null, final: null, continued: ["group-1"], steps: 2 });
    expect(state.messages.slice(state.windowStart)).toEqual([user("GROUP 2")]);
    // Without a new window the model keeps seeing the whole session.
    const kept = rebuildState([start, toolStep, submit, cp(4, { kind: "continue", run: 1, key: "more", messages: [result("c3", "submit_review", "ok"), user("MORE")], window: false })]);
    expect(kept.windowStart).toBe(0);
    // Continuations leave thread memory alone: later sessions remember requests and answers only.
    expect(memoryMessages([start, toolStep, submit, next])).toEqual([user("REQUEST")]);
  });

  it("follows parent links from the newest checkpoint, ignoring rows off the chain", () => {
    const orphan = cp(3, { kind: "step", run: 1, messages: [say("ORPHAN")], finishReason: "stop" }, 1);
    const tip = cp(4, { kind: "step", run: 1, messages: [say("TIP")], finishReason: "stop" }, 2);
    expect(chainOf([orphan, start, tip, toolStep]).map((c) => c.seq)).toEqual([1, 2, 4]);
    expect(chainOf([])).toEqual([]);
  });
});

describe("thread memory", () => {
  it("keeps requests, questions, answers and results — not tool traffic or narration", () => {
    const narration = cp(2, { kind: "step", run: 1, messages: [say("Reading the file first."), call("c1", "read_file", {}), result("c1", "read_file", "FILE")], finishReason: "tool-calls" });
    expect(memoryMessages([start, narration, askStep, answer, interrupted, finalStep])).toEqual([
      user("REQUEST"),
      { role: "assistant", content: "Let me ask.\n\nWHICH?" },
      user("@bob answered:\n\nTHIS ONE"),
      { role: "assistant", content: "FINAL" },
    ]);
  });

  it("fits the newest messages into the budget and starts with a user message", () => {
    const messages = [user("a".repeat(400)), say("b".repeat(400)), user("c".repeat(400)), say("d".repeat(400))];
    const cost = messages.map((m) => estimateTokens([m]));
    const newest = (n: number) => cost.slice(-n).reduce((a, b) => a + b, 0);
    expect(fitToBudget(messages, newest(4))).toEqual(messages);
    expect(fitToBudget(messages, newest(3))).toEqual(messages.slice(2));
    expect(fitToBudget(messages, newest(2))).toEqual(messages.slice(2));
    expect(fitToBudget(messages, newest(2) - 1)).toEqual([]);
  });
});
