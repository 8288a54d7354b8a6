import { FlowError } from "../../sessions/errors.js";
import type { Flow, FlowContext } from "../../sessions/flow.js";
import { stripMarkers } from "../../sessions/notes.js";
import type { Session } from "../../sessions/session.js";
import { runAgent, type AgentDeps, type AgentTask } from "../agent.js";
import { requestMessage, systemPrompt } from "../prompts/index.js";
import { createAgentTools } from "../tools.js";
import { fence, sanitizeProse } from "../untrusted.js";

/** The chat flow's prompts and read-only forge tools for one run. */
export function chatTask(deps: AgentDeps, session: Session, context: FlowContext): AgentTask {
  const { profile } = context;
  return {
    system: systemPrompt({ handle: context.handle, forgeName: profile.displayName, changeRequestName: profile.changeRequestName }),
    request: requestMessage({
      actor: session.actor.login,
      prompt: sanitizeProse(session.prompt),
      forgeName: profile.displayName,
      threadName: session.threadKind === "issue" ? "issue" : profile.changeRequestName,
      reference: profile.threadReference(session.threadKind, session.threadNumber),
      repoPath: session.repoPath,
      fencedTitle: fence(sanitizeProse(session.callbackContext.title), { kind: "title" }),
    }),
    tools: createAgentTools({
      forge: context.forge,
      thread: session.callbackContext.thread,
      triggerCreatedAt: session.callbackContext.triggerCreatedAt,
      triggerCommentId: session.triggerCommentId,
      ...(deps.limits.tools ? { limits: deps.limits.tools } : {}),
    }),
  };
}

/** `@forgebot <request>`: the checkpointed agent with read-only forge tools. */
export function createChatFlow(deps: AgentDeps): Flow {
  return {
    name: "chat",
    async run(session, context) {
      const end = await runAgent(deps, session, context, chatTask(deps, session, context));
      if (end.kind === "question") return { kind: "input_required", question: stripMarkers(end.question).trim() || "Could you tell me more?", usage: end.usage };
      if (end.kind === "call") throw new FlowError("internal", `the chat agent ended on ${end.toolName}, which chat does not offer`);
      const markdown = stripMarkers(end.text).trim();
      if (!markdown) throw new FlowError("no_response", "the model's last step had no text and no tool calls");
      return { kind: "finished", markdown, usage: end.usage };
    },
  };
}
