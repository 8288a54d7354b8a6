import { FlowError } from "../../sessions/errors.js";
import type { Flow } from "../../sessions/flow.js";
import type { FlowRegistry } from "../../sessions/ports.js";
import { helpFlow } from "./help.js";

/** Used for `chat` until a model provider is configured. */
export const noModelChatFlow: Flow = {
  name: "chat",
  async run() {
    throw new FlowError("no_model", "no model provider is configured");
  },
};

/** The flows by name; `help` is built in (`options.help` replaces the default one), `flows` win over it. */
export function createFlowRegistry(flows: readonly Flow[], options: { help?: Flow } = {}): FlowRegistry {
  const byName = new Map<string, Flow>([options.help ?? helpFlow, ...flows].map((f) => [f.name, f]));
  return {
    flowFor(name) {
      const flow = byName.get(name);
      if (!flow) throw new FlowError("internal", `unknown flow ${name}`);
      return flow;
    },
    has: (name) => byName.has(name),
  };
}
