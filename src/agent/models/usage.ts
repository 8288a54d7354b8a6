import type { LanguageModelUsage } from "ai";
import type { ModelPrice } from "./spec.js";

/** Tokens and cost of one step; a checkpoint's `usage`. */
export type StepUsage = {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /** Present only when the model has prices configured. */
  costUsd?: number | undefined;
  /** Wall-clock time of the step (model call and tools). */
  durationMs: number;
};

export const NO_USAGE: StepUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, durationMs: 0 };

/** USD for a step; cached input is billed at `cachedInput` when given, else at the input price. */
export function costOf(usage: Pick<StepUsage, "inputTokens" | "outputTokens" | "cachedInputTokens">, price: ModelPrice): number {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const fresh = usage.inputTokens - cached;
  const micro = fresh * price.input + cached * (price.cachedInput ?? price.input) + usage.outputTokens * price.output;
  return micro / 1_000_000;
}

export function stepUsage(usage: LanguageModelUsage, price: ModelPrice | undefined, durationMs: number): StepUsage {
  const counted = {
    inputTokens: usage.inputTokens ?? 0,
    outputTokens: usage.outputTokens ?? 0,
    cachedInputTokens: usage.inputTokenDetails?.cacheReadTokens ?? 0,
  };
  return { ...counted, ...(price ? { costUsd: costOf(counted, price) } : {}), durationMs };
}

/** Sums step usages; cost stays undefined unless some step had a price. */
export function addUsage(a: StepUsage, b: StepUsage): StepUsage {
  const cost = a.costUsd === undefined && b.costUsd === undefined ? undefined : (a.costUsd ?? 0) + (b.costUsd ?? 0);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    ...(cost === undefined ? {} : { costUsd: cost }),
    durationMs: a.durationMs + b.durationMs,
  };
}
