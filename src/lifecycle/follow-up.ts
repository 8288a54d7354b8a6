import type { ForgeClient } from "../sessions/forge-port.js";
import type { LifecycleDeps, StoredMention } from "../sessions/ports.js";
import type { NewSession, Session } from "../sessions/session.js";
import { startSession } from "./start.js";

/**
 * A mention in a change request forgebot opened continues the change that opened it: a change
 * session whose parent is that session, which reads the conversation it came from and publishes
 * onto the change request's own branch, after the same approval. Only with the change flow
 * registered and `code_changes` on for the actor; otherwise (and in any other thread) null, and
 * the mention is an ordinary one.
 */
export async function startFollowUp(deps: LifecycleDeps, stored: StoredMention, client: ForgeClient, input: NewSession): Promise<Session | null> {
  const { mention } = stored;
  if (mention.thread.kind !== "change_request" || !deps.publications || !deps.flows.has("change")) return null;
  const origin = await deps.publications.findPublished(mention.thread);
  if (!origin) return null;
  if (!(await deps.changePolicy?.changesAllowed({ forge: mention.forge, login: mention.actor.login, repoPath: mention.thread.repoPath }))) return null;
  const { session, created } = await deps.sessions.createSession({ ...input, flow: "change", parentSessionId: origin.sessionId });
  if (created) deps.log.info({ sessionId: session.id, parentSessionId: origin.sessionId, branch: origin.branch }, "follow-up of a published change created");
  await startSession(deps, session, client, stored.receivedAt);
  return session;
}
