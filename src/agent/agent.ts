import type { ModelMessage, ToolSet } from "ai";
import type { Config } from "../config/index.js";
import { FlowError, RunInterruptedError } from "../sessions/errors.js";
import type { FlowContext } from "../sessions/flow.js";
import type { SessionStore } from "../sessions/ports.js";
import { stripMarkers } from "../sessions/notes.js";
import type { Session, SessionUsage } from "../sessions/session.js";
import { chainOf, CheckpointConflictError, CheckpointUnavailableError, type Checkpoint, type CheckpointDelta, type CheckpointStore } from "./checkpoints.js";
import { collectMemory, loadMemory } from "./memory.js";
import { callModelStep, type AgentMetrics } from "./model-call.js";
import type { ModelRouter, RoutedModel } from "./models/router.js";
import type { ModelMetadata } from "./models/spec.js";
import { addUsage, NO_USAGE, stepUsage, type StepUsage } from "./models/usage.js";
import { answerMessage } from "./prompts/index.js";
import { applyCheckpoint, rebuildState, toolResult, type AgentState } from "./state.js";
import type { ToolLimits } from "./tools.js";
import { sanitizeProse } from "./untrusted.js";

/** The per-session limits of config (AGENT_*), and the tools' own bounds. */
export type AgentLimits = Config["agent"] & { tools?: ToolLimits };

export type AgentDeps = {
  router: ModelRouter;
  checkpoints: CheckpointStore;
  sessions: Pick<SessionStore, "addEvent">;
  /** Whether this session keeps its conversation's model (the `provider_stickiness` flag). */
  stickiness(session: Session): Promise<boolean>;
  limits: AgentLimits;
  metrics: AgentMetrics;
  now?: () => number;
};

function toSessionUsage(totals: StepUsage, steps: number): SessionUsage {
  return {
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    cachedInputTokens: totals.cachedInputTokens,
    ...(totals.costUsd === undefined ? {} : { costUsd: totals.costUsd }),
    steps,
  };
}

function reasonName(reason: unknown): string {
  return reason instanceof FlowError ? reason.reason : "shutdown";
}

/** The model this session should keep, when stickiness is on: its own, else its conversation's. */
async function stickyModel(deps: AgentDeps, session: Session, state: AgentState): Promise<ModelMetadata | null> {
  if (!(await deps.stickiness(session))) return null;
  const own = (session.selectedModelMetadata as ModelMetadata | null) ?? state.lastModel;
  if (own || state.started) return own;
  const earlier = await deps.checkpoints.listEarlierSessions(session.conversationKey, session.id, 20);
  return earlier.find((s) => s.selectedModelMetadata)?.selectedModelMetadata ?? null;
}

/**
 * Hooks of a flow whose tools act outside the conversation (a change session's workspace). A
 * step's tools run inside one model call and the checkpoint follows it, so a crash can fall
 * between a tool's action and its record: these hooks let the flow record the action ahead,
 * store its effect with the step, and close a step cut short without running anything again.
 */
export type StepHooks = {
  /** Before each model call, with the last checkpoint's seq (the step's own will be the next). */
  beforeStep?(lastSeq: number): void;
  /** What the step's tools changed, stored with its checkpoint (`effects`); undefined for nothing. */
  effects?(): Promise<unknown>;
  /**
   * Once per run, before the first model call, with the state rebuilt from the checkpoints and
   * the chain the run loaded (before its own start or input checkpoint, which hold no steps):
   * results for calls the loop did not run (the call a flow switch answered, commands of a step
   * cut short), written as a `recovered` checkpoint. Null when nothing is open.
   */
  recover?(state: AgentState, chain: readonly Checkpoint[]): Promise<{ messages: ModelMessage[]; reason: string; data?: Record<string, unknown> } | null>;
};

/** What one flow asks of the agent: its prompts and its tools. */
export type AgentTask = {
  /** The system prompt; stable across a conversation, so providers' prompt caches hit. */
  system: string;
  /** The session's first user message, recorded once (with thread memory) in the start checkpoint. */
  request: string;
  /**
   * The tools of this run. A tool without `execute` ends the step loop (`ask_user`, a flow's
   * submit tool): the run returns the call, and the flow acts on it.
   */
  tools: ToolSet;
  /** Whether the thread's earlier sessions are the model's memory (default true). */
  memory?: boolean;
  /** Other conversations whose sessions are memory too (a follow-up's origin thread). */
  memoryFrom?: readonly string[];
  steps?: StepHooks;
};

/**
 * How a flow continues a run that ended on a call (or an answer): the call's result and the next
 * request, recorded once under `key` (a repeated run finds it recorded and goes on from there).
 */
export type AgentContinuation = {
  key: string;
  /** The result of the call the run ended on; required when it ended on one. */
  result?: { toolCallId: string; output: string };
  message: string;
  /** The model sees only `message` onward: what came before stays in the checkpoints. */
  freshWindow: boolean;
};

/** How a run of the agent ended, with the session's running usage and the continuations recorded so far. */
export type AgentEnd = { usage: SessionUsage; continued: readonly string[] } & (
  /** `ask_user`: the session waits for the person's answer. */
  | { kind: "question"; question: string }
  /** The model answered without calling a tool. */
  | { kind: "answer"; text: string }
  /** The model called another tool without `execute`. */
  | { kind: "call"; toolName: string; toolCallId: string; input: unknown }
);

/** The question a run ended on, as the session asks it (never empty). */
export function questionText(question: string): string {
  return stripMarkers(question).trim() || "Could you tell me more?";
}

/** The checkpoint of a continuation: it closes the call the run ended on, then asks the next request. */
function continuation(state: AgentState, run: number, next: AgentContinuation): CheckpointDelta {
  const open = state.pendingCall;
  if (open && next.result?.toolCallId !== open.toolCallId) {
    throw new FlowError("internal", `continuation ${next.key} answers ${next.result?.toolCallId ?? "no call"}, but the run ended on ${open.toolCallId}`);
  }
  const messages: ModelMessage[] = [];
  if (open && next.result) messages.push(toolResult(open, next.result.output));
  messages.push({ role: "user", content: next.message });
  return { kind: "continue", run, key: next.key, messages, window: next.freshWindow };
}

/**
 * Runs a session as a checkpointed agent loop: rebuilds its state from the checkpoint chain,
 * records the request (with thread memory) or the user's answer if not yet recorded, then calls
 * the model step by step, writing a checkpoint after each. Safe to call again for the same
 * session: recorded steps are replayed, never re-run. A checkpoint store out of reach, or
 * another worker extending the chain first, interrupts the run without ending the session: the
 * job is retried (or left to its owner) and continues from the last checkpoint. With `next`, a
 * run that ended on a call or an answer goes on with the flow's continuation (recorded once).
 */
export async function runAgent(deps: AgentDeps, session: Session, context: FlowContext, task: AgentTask, next?: AgentContinuation): Promise<AgentEnd> {
  try {
    return await runCheckpointed(deps, session, context, task, next);
  } catch (err: unknown) {
    if (err instanceof CheckpointConflictError || err instanceof CheckpointUnavailableError) throw new RunInterruptedError(err.message, { cause: err });
    throw err;
  }
}

async function runCheckpointed(deps: AgentDeps, session: Session, context: FlowContext, task: AgentTask, next: AgentContinuation | undefined): Promise<AgentEnd> {
  const now = deps.now ?? Date.now;
  const { limits } = deps;
  const run = session.runSeq;
  const chain = chainOf(await deps.checkpoints.list(session.id));
  let state = rebuildState(chain);

  const preferred = await stickyModel(deps, session, state);
  const exclude = new Set<string>();
  const first = deps.router.choose({ preferred, exclude });
  if (!first) throw new FlowError("no_model", "no model is configured");
  let current: RoutedModel = first.routed;
  const stored = (session.selectedModelMetadata as ModelMetadata | null)?.name;
  let selectModel: ModelMetadata | undefined = stored === current.metadata.name ? undefined : current.metadata;

  async function recordSwitch(from: ModelMetadata, to: RoutedModel, reason: string): Promise<void> {
    await deps.sessions.addEvent(session.id, "model_switched", { from, to: to.metadata, reason });
    context.log.info({ from: from.name, to: to.metadata.name, reason }, "model switched");
    selectModel = to.metadata;
  }
  if (preferred && preferred.name !== current.metadata.name) await recordSwitch(preferred, current, "not_configured");

  async function write(delta: CheckpointDelta, usage: StepUsage = NO_USAGE): Promise<void> {
    const checkpoint = { sessionId: session.id, seq: (state.lastSeq ?? 0) + 1, parentSeq: state.lastSeq, delta, model: current.metadata, usage };
    const steps = state.steps + (delta.kind === "step" ? 1 : 0);
    const totals = addUsage(state.totals, usage);
    await deps.checkpoints.append({
      ...checkpoint,
      session: { usage: { ...toSessionUsage(totals, steps), durationMs: now() - session.createdAt.getTime() }, selectedModelMetadata: selectModel },
    });
    selectModel = undefined;
    state = applyCheckpoint(state, { ...checkpoint, createdAt: new Date() });
  }

  let memory: ModelMessage[];
  const memoryTokens = task.memory === false ? 0 : limits.memoryTokens;
  if (!state.started) {
    const collected = await collectMemory(deps.checkpoints, session, memoryTokens, task.memoryFrom);
    memory = collected.messages;
    await write({ kind: "start", run, messages: [{ role: "user", content: task.request }], history: collected.refs });
  } else {
    memory = await loadMemory(deps.checkpoints, state.history, memoryTokens);
  }

  const input = session.callbackContext.inputs?.find((i) => i.run === run);
  if (input && !state.inputRuns.includes(run)) {
    const text = answerMessage(input.actor.login, sanitizeProse(input.text));
    // The answer closes the call the last run ended on (a question, a plan awaiting approval).
    const open = state.pendingCall;
    const messages: ModelMessage[] = open ? [toolResult(open, text)] : [{ role: "user", content: text }];
    await write({ kind: "input", run, messages });
  }

  // Calls a crash cut short are answered first (never run again), then a flow's continuation.
  const recovery = await task.steps?.recover?.(state, chain);
  if (recovery) {
    await write({ kind: "recovered", run, messages: recovery.messages, reason: recovery.reason, ...(recovery.data ? { data: recovery.data } : {}) });
  }
  if (next && !state.continued.includes(next.key)) await write(continuation(state, run, next));

  const outcome = (): AgentEnd | null => {
    const usage = toSessionUsage(state.totals, state.steps);
    const { continued } = state;
    if (state.pendingQuestion) return { kind: "question", question: state.pendingQuestion.question, usage, continued };
    if (state.pendingCall) {
      const call = state.pendingCall;
      return { kind: "call", toolName: call.toolName, toolCallId: call.toolCallId, input: call.input, usage, continued };
    }
    if (!state.final) return null;
    return { kind: "answer", text: state.final.text, usage, continued };
  };
  const recorded = outcome();
  if (recorded) return recorded;

  const remaining = limits.timeoutMs - state.totals.durationMs;
  if (remaining <= 0) throw new FlowError("timeout", "session wall-clock limit reached");
  const wallClock = new AbortController();
  const timer = setTimeout(() => wallClock.abort(new FlowError("timeout", "session wall-clock limit reached")), remaining);
  const signal = AbortSignal.any([context.signal, wallClock.signal]);
  const { system, tools } = task;

  let stepStart = now();
  async function interrupted(reason: string): Promise<void> {
    try {
      await write({ kind: "interrupted", run, reason }, { ...NO_USAGE, durationMs: now() - stepStart });
    } catch (err: unknown) {
      context.log.warn({ err, sessionId: session.id }, "interruption checkpoint could not be written");
    }
  }

  try {
    for (;;) {
      if (state.steps >= limits.maxSteps) throw new FlowError("max_steps", `${state.steps} steps`);
      const tokens = state.totals.inputTokens + state.totals.outputTokens;
      if (tokens >= limits.maxTokens) throw new FlowError("max_tokens", `${tokens} tokens`);
      let step;
      task.steps?.beforeStep?.(state.lastSeq ?? 0);
      try {
        step = await callModelStep({
          routed: current,
          system,
          messages: [...memory, ...state.messages.slice(state.windowStart)],
          tools,
          signal,
          timeoutMs: limits.modelTimeoutMs,
          retries: limits.modelRetries,
          metrics: deps.metrics,
        });
      } catch (err: unknown) {
        if (!signal.aborted) throw err;
        await interrupted(context.signal.aborted ? reasonName(context.signal.reason) : "timeout");
        throw context.signal.aborted ? context.signal.reason : wallClock.signal.reason;
      }
      if (!step.ok) {
        const { failure } = step;
        const next = failure.fallback ? deps.router.choose({ exclude: exclude.add(current.spec.name) }) : null;
        if (!next) throw new FlowError(failure.reason, `${current.spec.name}: ${failure.detail}`);
        await recordSwitch(current.metadata, next.routed, failure.outcome);
        current = next.routed;
        continue;
      }
      const usage = stepUsage(step.result.usage, current.spec.price, now() - stepStart);
      deps.metrics.modelTokens(current.spec.name, usage);
      const effects = await task.steps?.effects?.();
      await write({ kind: "step", run, messages: step.result.response.messages, finishReason: step.result.finishReason, ...(effects === undefined ? {} : { effects }) }, usage);
      stepStart = now();
      const done = outcome();
      if (done) return done;
    }
  } finally {
    clearTimeout(timer);
  }
}
