import type { ForgeName, PublishStep } from "../../sessions/forge-port.js";
import type { PatchPublication } from "../../workspace/store.js";

/**
 * What publishing keeps in Postgres (storage/publish-store.ts): every step of a run's publish,
 * claimed before its first forge request and completed with its result, so a repeated attempt
 * (a crash, a stalled job) reuses what is recorded and looks for what may have been written;
 * and the change requests forgebot opened, so a mention in one is recognised.
 */

/** The steps a publish records: the forge's steps, and the plan fixed before the first of them. */
export type RecordedStep = PublishStep | "plan";

/** A step's claim: `first` when no attempt claimed it before; `result` once one recorded it. */
export type StepClaim = { first: boolean; result: unknown };

/** A change request forgebot opened, with the conversation that asked for it. */
export type PublishedChangeRequest = { sessionId: number; branch: string; conversationKey: string };

export type ChangeRequestKey = { forge: ForgeName; host: string; repoId: string; number: number };

export interface PublishStore {
  claimStep(sessionId: number, run: number, step: RecordedStep): Promise<StepClaim>;
  completeStep(sessionId: number, run: number, step: RecordedStep, result: unknown): Promise<void>;
  /**
   * Records the publish with the session's patch, its `published` session event and, when it
   * opened a change request, that change request (so a mention there is recognised), in one
   * transaction. Safe to repeat: a repeat adds no second event for the same run.
   */
  markPublished(sessionId: number, publication: Omit<PatchPublication, "publishedAt">, opened: ChangeRequestKey | null): Promise<void>;
  /** The session that opened this change request, or null when forgebot did not open it. */
  findPublished(key: ChangeRequestKey): Promise<PublishedChangeRequest | null>;
}
