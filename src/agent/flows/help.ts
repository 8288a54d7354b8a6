import type { Flow } from "../../sessions/flow.js";
import { helpText } from "../../sessions/notes.js";
import type { RetryPolicy } from "../../sessions/ports.js";

/** The built-in `help` command: runs the whole lifecycle, answers without a model. */
export const helpFlow: Flow = {
  name: "help",
  async run(_session, context) {
    return { kind: "finished", markdown: helpText(context.handle, context.profile.changeRequestName) };
  },
};

/** `help` that lists `retry` only when `manual_retry` is on for the asker in that repository. */
export function createHelpFlow(retryPolicy: RetryPolicy): Flow {
  return {
    name: "help",
    async run(session, context) {
      const retry = await retryPolicy.retryAllowed({ forge: session.forge, login: session.actor.login, repoPath: session.repoPath });
      return { kind: "finished", markdown: helpText(context.handle, context.profile.changeRequestName, { retry }) };
    },
  };
}
