import { tool } from "ai";
import { z } from "zod";
import { FlowError } from "../../sessions/errors.js";
import type { Flow, FlowContext } from "../../sessions/flow.js";
import { stripMarkers } from "../../sessions/notes.js";
import type { Session } from "../../sessions/session.js";
import { sessionForgeTools, sessionRequest } from "./request.js";
import { questionText, runAgent, type AgentDeps, type AgentTask } from "../agent.js";
import { systemPrompt } from "../prompts/index.js";
import { START_CHANGE_TOOL } from "./change.js";

/** What the chat flow may hand a session over to. */
export type ChatOptions = {
  /** Lets the agent turn its session into a change session when the request needs edits. */
  change?: {
    flow: Flow;
    /** The `code_changes` flag for the session's user or repository: the tool is offered only then. */
    allowed(session: Session): Promise<boolean>;
    /** Records the switch (a session event) and makes `change` the session's flow; the session as it is now. */
    switchSession(session: Session, request: string): Promise<Session>;
  };
};

/** The tool without `execute` the chat agent calls to switch (the change flow answers it). */
export const startChangeTool = tool({
  description:
    "Switch this session to a change session: you get a workspace with the repository where you can edit files and run the project's commands, and the session ends with a patch. Call it only when the person asked for a change to the code, not to answer a question.",
  inputSchema: z.object({ request: z.string().min(1).describe("What to change, in one or two sentences") }),
});

/** The chat flow's prompts and read-only forge tools for one run. */
export function chatTask(deps: AgentDeps, session: Session, context: FlowContext): AgentTask {
  const { profile } = context;
  return {
    system: systemPrompt({ handle: context.handle, forgeName: profile.displayName, changeRequestName: profile.changeRequestName }),
    request: sessionRequest(session, profile),
    tools: sessionForgeTools(session, context, deps.limits.tools),
  };
}

/** `@forgebot <request>`: the checkpointed agent with read-only forge tools. */
export function createChatFlow(deps: AgentDeps, options: ChatOptions = {}): Flow {
  return {
    name: "chat",
    async run(session, context) {
      const { change } = options;
      const task = chatTask(deps, session, context);
      if (change && (await change.allowed(session))) task.tools = { ...task.tools, [START_CHANGE_TOOL]: startChangeTool };
      const end = await runAgent(deps, session, context, task);
      if (end.kind === "question") return { kind: "input_required", question: questionText(end.question), usage: end.usage };
      if (end.kind === "call" && end.toolName === START_CHANGE_TOOL && change) {
        const request = String((end.input as { request?: unknown } | null)?.request ?? "");
        context.log.info({ sessionId: session.id }, "chat session switched to a change session");
        return change.flow.run(await change.switchSession(session, request), context);
      }
      if (end.kind === "call") throw new FlowError("internal", `the chat agent ended on ${end.toolName}, which chat does not offer`);
      const markdown = stripMarkers(end.text).trim();
      if (!markdown) throw new FlowError("no_response", "the model's last step had no text and no tool calls");
      return { kind: "finished", markdown, usage: end.usage };
    },
  };
}
