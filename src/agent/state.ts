import type { ModelMessage } from "ai";
import type { Checkpoint, HistoryRef } from "./checkpoints.js";
import type { ModelMetadata } from "./models/spec.js";
import { addUsage, NO_USAGE, type StepUsage } from "./models/usage.js";

/** The tool that pauses the session with a question for the user. */
export const ASK_USER_TOOL = "ask_user";

/** What a session's checkpoint chain adds up to. */
export type AgentState = {
  lastSeq: number | null;
  started: boolean;
  history: HistoryRef[];
  /** This session's own messages (thread memory is loaded separately from `history`). */
  messages: ModelMessage[];
  /** The model sees `messages` from this index on (a `continue` with a new window moves it). */
  windowStart: number;
  /** Keys of the continuations recorded, in order. */
  continued: string[];
  steps: number;
  totals: StepUsage;
  /** The agent asked the user something and no answer is recorded yet. */
  pendingQuestion: { toolCallId: string; question: string } | null;
  /**
   * The last step called a tool that has no `execute` (ask_user, a flow's submit tool): the step
   * loop ends there, and the flow acts on the call. Null once a later checkpoint answers it.
   */
  pendingCall: PendingCall | null;
  /** Runs whose user input is already recorded. */
  inputRuns: number[];
  /** The last step answered without calling tools: the session's result. */
  final: { text: string } | null;
  lastModel: ModelMetadata | null;
};

export const EMPTY_STATE: AgentState = {
  lastSeq: null,
  started: false,
  history: [],
  messages: [],
  windowStart: 0,
  continued: [],
  steps: 0,
  totals: NO_USAGE,
  pendingQuestion: null,
  pendingCall: null,
  inputRuns: [],
  final: null,
  lastModel: null,
};

type ToolCallPart = { type: "tool-call"; toolCallId: string; toolName: string; input: unknown };

/** A tool call the step ended on, without a result: the flow's to answer. */
export type PendingCall = { toolCallId: string; toolName: string; input: unknown };

/** The tool message answering `call` with `text`. */
export function toolResult(call: { toolCallId: string; toolName: string }, text: string): ModelMessage {
  return { role: "tool", content: [{ type: "tool-result", toolCallId: call.toolCallId, toolName: call.toolName, output: { type: "text", value: text } }] };
}

/** The ids of tool calls the messages hold results for. */
export function resultIds(messages: readonly ModelMessage[]): Set<string> {
  const ids = new Set<string>();
  for (const m of messages) {
    if (m.role !== "tool") continue;
    for (const part of m.content) if (part.type === "tool-result") ids.add(part.toolCallId);
  }
  return ids;
}

/** The tool calls in a list of messages (assistant content parts). */
export function toolCallsIn(messages: readonly ModelMessage[]): ToolCallPart[] {
  const calls: ToolCallPart[] = [];
  for (const m of messages) {
    if (m.role !== "assistant" || typeof m.content === "string") continue;
    for (const part of m.content) if (part.type === "tool-call") calls.push(part as ToolCallPart);
  }
  return calls;
}

/** The assistant text in a list of messages. */
export function assistantText(messages: readonly ModelMessage[]): string {
  const texts: string[] = [];
  for (const m of messages) {
    if (m.role !== "assistant") continue;
    if (typeof m.content === "string") texts.push(m.content);
    else for (const part of m.content) if (part.type === "text") texts.push(part.text);
  }
  return texts.join("\n\n").trim();
}

export function questionOf(call: ToolCallPart): string {
  const input = call.input as { question?: unknown } | null;
  return typeof input?.question === "string" ? input.question : "";
}

/** The state after one more checkpoint. Pure: replaying a chain always gives the same state. */
export function applyCheckpoint(state: AgentState, checkpoint: Checkpoint): AgentState {
  const { delta } = checkpoint;
  const next: AgentState = {
    ...state,
    lastSeq: checkpoint.seq,
    totals: addUsage(state.totals, checkpoint.usage),
    lastModel: checkpoint.model ?? state.lastModel,
  };
  switch (delta.kind) {
    case "start":
      return { ...next, started: true, history: delta.history, messages: [...state.messages, ...delta.messages] };
    case "input":
      return {
        ...next,
        messages: [...state.messages, ...delta.messages],
        pendingQuestion: null,
        pendingCall: null,
        final: null,
        inputRuns: [...state.inputRuns, delta.run],
      };
    case "interrupted":
      return next;
    case "continue": {
      const messages = [...state.messages, ...delta.messages];
      return {
        ...next,
        messages,
        windowStart: delta.window ? messages.length - 1 : state.windowStart,
        continued: [...state.continued, delta.key],
        pendingQuestion: null,
        pendingCall: null,
        final: null,
      };
    }
    case "recovered":
      return { ...next, messages: [...state.messages, ...delta.messages], pendingQuestion: null, pendingCall: null, final: null };
    case "step": {
      const calls = toolCallsIn(delta.messages);
      const ask = calls.find((c) => c.toolName === ASK_USER_TOOL);
      const answered = resultIds(delta.messages);
      const open = calls.find((c) => !answered.has(c.toolCallId));
      return {
        ...next,
        steps: state.steps + 1,
        messages: [...state.messages, ...delta.messages],
        pendingQuestion: ask ? { toolCallId: ask.toolCallId, question: questionOf(ask) } : null,
        pendingCall: open ? { toolCallId: open.toolCallId, toolName: open.toolName, input: open.input } : null,
        final: calls.length === 0 ? { text: assistantText(delta.messages) } : null,
      };
    }
  }
}

export function rebuildState(chain: readonly Checkpoint[]): AgentState {
  return chain.reduce(applyCheckpoint, EMPTY_STATE);
}
