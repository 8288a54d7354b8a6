import type { Flow } from "../../sessions/flow.js";
import { runAgent, type AgentDeps } from "../agent.js";

/** `@forgebot <request>`: the checkpointed agent with read-only forge tools. */
export function createChatFlow(deps: AgentDeps): Flow {
  return {
    name: "chat",
    run: (session, context) => runAgent(deps, session, context),
  };
}
