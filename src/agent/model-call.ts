import { generateText, type GenerateTextResult, type ModelMessage, type ToolSet } from "ai";
import { classifyModelError, type ModelCallOutcome, type ModelFailure } from "./models/errors.js";
import type { RoutedModel } from "./models/router.js";
import type { StepUsage } from "./models/usage.js";

/** Model metrics, implemented over prom-client in agent/metrics.ts. */
export interface AgentMetrics {
  modelCall(provider: string, outcome: ModelCallOutcome): void;
  modelTokens(provider: string, usage: StepUsage): void;
}

export type ModelStepInput = {
  routed: RoutedModel;
  system: string;
  messages: ModelMessage[];
  tools: ToolSet;
  /** Stop, shutdown and the session's wall clock; when it fires the call's error is rethrown. */
  signal: AbortSignal;
  timeoutMs: number;
  retries: number;
  metrics: AgentMetrics;
};

export type ModelStepResult = { ok: true; result: GenerateTextResult<ToolSet, never> } | { ok: false; failure: ModelFailure };

/**
 * Marks the end of the prompt as a cache breakpoint for Anthropic: the system prompt, tools
 * and every earlier message are then read from the cache on the next step.
 */
function withCacheHints(routed: RoutedModel, messages: ModelMessage[]): ModelMessage[] {
  if (routed.spec.provider !== "anthropic" || messages.length === 0) return messages;
  const last = messages[messages.length - 1]!;
  const hinted = { ...last, providerOptions: { ...last.providerOptions, anthropic: { cacheControl: { type: "ephemeral" } } } } as ModelMessage;
  return [...messages.slice(0, -1), hinted];
}

/**
 * One model call (one agent step: the SDK runs the tools the model asked for before
 * returning). Provider failures come back as a classified `failure`; an abort by `signal` is
 * rethrown so the caller can checkpoint and end the run.
 */
export async function callModelStep(input: ModelStepInput): Promise<ModelStepResult> {
  const name = input.routed.spec.name;
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new Error("model call timed out")), input.timeoutMs);
  try {
    const result = await generateText({
      model: input.routed.model,
      system: input.system,
      messages: withCacheHints(input.routed, input.messages),
      tools: input.tools,
      maxRetries: input.retries,
      abortSignal: AbortSignal.any([input.signal, timer.signal]),
    });
    input.metrics.modelCall(name, "ok");
    return { ok: true, result: result as GenerateTextResult<ToolSet, never> };
  } catch (err: unknown) {
    if (input.signal.aborted) {
      input.metrics.modelCall(name, "aborted");
      throw err;
    }
    const failure = classifyModelError(err, timer.signal.aborted);
    input.metrics.modelCall(name, failure.outcome);
    return { ok: false, failure };
  } finally {
    clearTimeout(timeout);
  }
}
