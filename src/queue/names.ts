/**
 * Two queues so a started note never waits behind long flow runs: `lifecycle` carries short
 * forge writes (accept a mention, deliver a result), `sessions` carries flow runs.
 * Job ids are deterministic and avoid `:` and all-digit ids (BullMQ forbids both).
 */
export const LIFECYCLE_QUEUE = "lifecycle";
export const SESSIONS_QUEUE = "sessions";

export type MentionJob = { deliveryId: number };
export type RunJob = { sessionId: number; run: number };
export type DeliverJob = { sessionId: number; run: number };

export const jobIds = {
  mention: (deliveryId: number) => `mention-${deliveryId}`,
  run: (sessionId: number, run: number) => `run-${sessionId}-${run}`,
  deliver: (sessionId: number, run: number) => `deliver-${sessionId}-${run}`,
};
