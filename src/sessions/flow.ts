import type { ForgeClient, ForgeProfile } from "./forge-port.js";
import type { Logger } from "./logger.js";
import type { Session, SessionUsage } from "./session.js";

export type FlowOutcome =
  | { kind: "finished"; markdown: string; usage?: SessionUsage }
  | { kind: "input_required"; question: string; usage?: SessionUsage }
  /** A change waits for `@forgebot apply`: `markdown` shows it and says how to approve. */
  | { kind: "plan_approval_required"; markdown: string; usage?: SessionUsage };

export type FlowContext = {
  /** Aborted when the session is stopped or the worker shuts down. */
  signal: AbortSignal;
  forge: ForgeClient;
  handle: string;
  /** The forge's words (its name, "pull request" or "merge request"). */
  profile: ForgeProfile;
  log: Logger;
  /** Refreshes the session heartbeat (`updated_at`); long flows call it between steps. */
  heartbeat(): Promise<void>;
};

/** What a session runs. `run` may be called again for the same session after a crash. */
export interface Flow {
  readonly name: string;
  run(session: Session, context: FlowContext): Promise<FlowOutcome>;
}
