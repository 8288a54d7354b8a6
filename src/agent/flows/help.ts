import type { Flow } from "../../sessions/flow.js";
import { helpText } from "../../sessions/notes.js";

/** The built-in `help` command: runs the whole lifecycle, answers without a model. */
export const helpFlow: Flow = {
  name: "help",
  async run(_session, context) {
    return { kind: "finished", markdown: helpText(context.handle, context.profile.changeRequestName) };
  },
};
