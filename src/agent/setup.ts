import type { Config } from "../config/index.js";
import type { Flow } from "../sessions/flow.js";
import type { Logger, SessionStore } from "../sessions/ports.js";
import type { Session } from "../sessions/session.js";
import type { AgentDeps } from "./agent.js";
import type { CheckpointStore } from "./checkpoints.js";
import { createChangeFlow, type ChangeFlowDeps } from "./flows/change.js";
import { createChatFlow } from "./flows/chat.js";
import { noModelChatFlow } from "./flows/registry.js";
import { createReviewFlow } from "./flows/review.js";
import { agentMetrics } from "./metrics.js";
import { createLanguageModel } from "./models/providers.js";
import { createModelRouter, type RouterOptions } from "./models/router.js";
import { loadModelSpecs } from "./models/spec.js";
import { reviewMetrics } from "./review/metrics.js";
import type { ReviewStore } from "./review/store.js";

export type ChatFlowSetup = {
  config: Pick<Config, "models" | "env" | "agent">;
  checkpoints: CheckpointStore;
  sessions: Pick<SessionStore, "addEvent">;
  /** Provider stickiness per session: the `provider_stickiness` feature flag. */
  stickiness(session: Session): Promise<boolean>;
  log: Logger;
  random?: RouterOptions["random"];
};

/** What the change flow needs besides the agent's own parts, and how a chat session switches to it. */
export type ChangeFlowSetup = Omit<ChangeFlowDeps, keyof AgentDeps> & {
  /** Records a chat session's switch (an event) and makes `change` its flow. */
  switchSession(session: Session, request: string): Promise<Session>;
  /** Whether a chat agent is offered the switch: the flag, checked without counting a refusal. */
  offerSwitch(session: Session): Promise<boolean>;
};

/** The AI SDK prints its warnings to the terminal; route them to the logger instead. */
function routeSdkWarnings(log: Logger): void {
  (globalThis as { AI_SDK_LOG_WARNINGS?: unknown }).AI_SDK_LOG_WARNINGS = (options: { warnings: unknown[]; provider?: string; model?: string }) =>
    log.debug({ warnings: options.warnings, provider: options.provider, model: options.model }, "model provider warning");
}

/** The agent's parts for this installation, or null when no model provider is configured. */
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
 * The agent's flows for this installation: `chat`, `review` with the review records' store, and
 * with `change` set the `change` flow (which the chat agent may switch to). Without a model
 * provider every one of them answers that none is configured. Throws ConfigError for a bad
 * MODELS_FILE.
 */
export async function createAgentFlowsFromConfig(setup: ChatFlowSetup & { reviews: ReviewStore }, change?: ChangeFlowSetup): Promise<Flow[]> {
  const agent = await agentDepsFromConfig(setup);
  if (!agent) return [noModelChatFlow, { ...noModelChatFlow, name: "review" }, ...(change ? [{ ...noModelChatFlow, name: "change" }] : [])];
  const review = createReviewFlow({ agent, reviews: setup.reviews, metrics: reviewMetrics });
  if (!change) return [createChatFlow(agent), review];
  const { switchSession, offerSwitch, ...changeDeps } = change;
  const changeFlow = createChangeFlow({ ...agent, ...changeDeps });
  return [createChatFlow(agent, { change: { flow: changeFlow, allowed: offerSwitch, switchSession } }), review, changeFlow];
}
