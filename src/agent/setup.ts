import type { Config } from "../config/index.js";
import type { Flow } from "../sessions/flow.js";
import type { Logger, SessionStore } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";
import type { AgentDeps } from "./agent.js";
import type { CheckpointStore } from "./checkpoints.js";
import { createChatFlow } from "./flows/chat.js";
import { noModelChatFlow } from "./flows/registry.js";
import { createReviewFlow } from "./flows/review.js";
import { reviewMetrics } from "./review/metrics.js";
import type { ReviewStore } from "./review/store.js";
import { agentMetrics } from "./metrics.js";
import { createLanguageModel } from "./models/providers.js";
import { createModelRouter, type RouterOptions } from "./models/router.js";
import { loadModelSpecs } from "./models/spec.js";

export type ChatFlowSetup = {
  config: Pick<Config, "models" | "env" | "agent">;
  checkpoints: CheckpointStore;
  sessions: Pick<SessionStore, "addEvent">;
  /** Provider stickiness per session: the `provider_stickiness` feature flag. */
  stickiness(session: Session): Promise<boolean>;
  log: Logger;
  random?: RouterOptions["random"];
};

/** The AI SDK prints its warnings to the terminal; route them to the logger instead. */
function routeSdkWarnings(log: Logger): void {
  (globalThis as { AI_SDK_LOG_WARNINGS?: unknown }).AI_SDK_LOG_WARNINGS = (options: { warnings: unknown[]; provider?: string; model?: string }) =>
    log.debug({ warnings: options.warnings, provider: options.provider, model: options.model }, "model provider warning");
}

/**
 * The `chat` flow for this installation: the agent when a model is configured (env shortcuts
 * or MODELS_FILE), else the flow answering that no model provider is configured. Throws
 * ConfigError for a bad MODELS_FILE, so start-up fails with one line.
 */
export async function createChatFlowFromConfig(setup: ChatFlowSetup): Promise<Flow> {
  const deps = await agentDepsFromConfig(setup);
  return deps ? createChatFlow(deps) : noModelChatFlow;
}

async function agentDepsFromConfig(setup: ChatFlowSetup): Promise<AgentDeps | null> {
  const specs = loadModelSpecs(setup.config);
  if (specs.length === 0) return null;
  routeSdkWarnings(setup.log);
  const router = await createModelRouter(specs, {
    build: (spec) => createLanguageModel(spec, setup.config.env),
    ...(setup.random ? { random: setup.random } : {}),
  });
  setup.log.info({ models: router.models.map((m) => m.metadata) }, "model providers configured");
  return {
    router,
    checkpoints: setup.checkpoints,
    sessions: setup.sessions,
    stickiness: setup.stickiness,
    limits: setup.config.agent,
    metrics: agentMetrics,
  };
}

/**
 * The agent's flows for this installation: `chat` and, beside it, `review` (which needs the
 * review records' store). Without a model provider both answer that none is configured.
 * Throws ConfigError for a bad MODELS_FILE.
 */
export async function createAgentFlowsFromConfig(setup: ChatFlowSetup & { reviews: ReviewStore }): Promise<Flow[]> {
  const deps = await agentDepsFromConfig(setup);
  if (!deps) return [noModelChatFlow, { ...noModelChatFlow, name: "review" }];
  return [createChatFlow(deps), createReviewFlow({ agent: deps, reviews: setup.reviews, metrics: reviewMetrics })];
}
