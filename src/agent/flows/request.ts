import type { ToolSet } from "ai";
import type { FlowContext } from "../../sessions/flow.js";
import type { ForgeProfile } from "../../sessions/forge-port.js";
import type { Session } from "../../sessions/session.js";
import { requestMessage } from "../prompts/index.js";
import { createAgentTools, type ToolLimits } from "../tools.js";
import { fence, sanitizeProse } from "../untrusted.js";

/** A session's first user message: its request (as the reader sees it) and where it was made. */
export function sessionRequest(session: Session, profile: ForgeProfile): string {
  return requestMessage({
    actor: session.actor.login,
    prompt: sanitizeProse(session.prompt),
    forgeName: profile.displayName,
    threadName: session.threadKind === "issue" ? "issue" : profile.changeRequestName,
    reference: profile.threadReference(session.threadKind, session.threadNumber),
    repoPath: session.repoPath,
    fencedTitle: fence(sanitizeProse(session.callbackContext.title), { kind: "title" }),
  });
}

/**
 * The forge tools over a session's thread (only what stood there when it was asked), bounded by
 * `limits`; `defaultRef` is the ref files are read at when the model names none.
 */
export function sessionForgeTools(session: Session, context: FlowContext, limits: ToolLimits | undefined, defaultRef?: string): ToolSet {
  return createAgentTools({
    forge: context.forge,
    thread: session.callbackContext.thread,
    triggerCreatedAt: session.callbackContext.triggerCreatedAt,
    triggerCommentId: session.triggerCommentId,
    ...(defaultRef === undefined ? {} : { defaultRef }),
    ...(limits ? { limits } : {}),
  });
}
