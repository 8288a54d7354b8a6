import type { Flow } from "../../sessions/flow.js";
import { helpText } from "../../sessions/notes.js";
import type { FlagSubject, RetryPolicy } from "../../sessions/ports.js";

/** The built-in `help` command: runs the whole lifecycle, answers without a model. */
export const helpFlow: Flow = {
  name: "help",
  async run(_session, context) {
    return { kind: "finished", markdown: helpText(context.handle, context.profile.changeRequestName) };
  },
};

/**
 * `help` that lists `retry` only when `manual_retry` is on for the asker in that repository, and
 * `change`/`apply` only when `code_changes` is (asking is not a refusal: nothing is counted).
 */
export function createHelpFlow(policy: RetryPolicy & { changesOffered(subject: FlagSubject): Promise<boolean> }): Flow {
  return {
    name: "help",
    async run(session, context) {
      const subject = { forge: session.forge, login: session.actor.login, repoPath: session.repoPath };
      const [retry, changes] = await Promise.all([policy.retryAllowed(subject), policy.changesOffered(subject)]);
      return { kind: "finished", markdown: helpText(context.handle, context.profile.changeRequestName, { retry, changes }) };
    },
  };
}
