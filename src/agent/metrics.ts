import { modelRequests, modelTokens } from "../metrics/index.js";
import type { AgentMetrics } from "./model-call.js";

/** Model calls and tokens over the shared prom-client registry; `provider` is the model's configured name. */
export const agentMetrics: AgentMetrics = {
  modelCall: (provider, outcome) => modelRequests.inc({ provider, outcome }),
  modelTokens: (provider, usage) => {
    modelTokens.inc({ provider, kind: "input" }, usage.inputTokens);
    modelTokens.inc({ provider, kind: "output" }, usage.outputTokens);
    modelTokens.inc({ provider, kind: "cached_input" }, usage.cachedInputTokens);
  },
};
