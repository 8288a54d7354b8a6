import type { ForgeProfile } from "../../sessions/forge-port.js";
import type { Session } from "../../sessions/session.js";
import { requestMessage } from "../prompts/index.js";
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
