import { Counter, Histogram } from "prom-client";
import type { LifecycleMetrics } from "../sessions/ports.js";
import { retries } from "./flows.js";
import { sessionsEnded } from "./flows.js";
import { registry } from "./registry.js";

/**
 * The one registry and every metric forgebot exports. Labels are bounded: forge, event,
 * outcome, op, status, phase, provider, kind, action — never ids. Gauges read at scrape time
 * (sessions by status, queue jobs) live in scrape.ts; forge request counting in forge-requests.ts.
 */
export { registry };
export { countForgeRequest, forgeRequestErrorOutcome, forgeRequestOutcome, forgeRequests, type ForgeRequestOutcome } from "./forge-requests.js";
export {
  permissionRefusals,
  publishes,
  publishSteps,
  retries,
  reviewComments,
  reviewsPosted,
  sandboxCommandDuration,
  sandboxCommands,
  sessionsEnded,
  signIns,
  workspaceBytes,
  workspaceCreation,
} from "./flows.js";
export { activeSessions, bindScrapeSources, oldestHeartbeatAge, queueJobs, scrapeSourceUp, type ScrapeSources } from "./scrape.js";

export const webhooksReceived = new Counter({
  name: "forgebot_webhooks_received_total",
  help: "Webhook deliveries received, by forge, event and outcome.",
  labelNames: ["forge", "event", "outcome"] as const,
  registers: [registry],
});

export const sessionTransitions = new Counter({
  name: "forgebot_session_transitions_total",
  help: "Session status changes, by the status entered.",
  labelNames: ["status"] as const,
  registers: [registry],
});

export const sessionDuration = new Histogram({
  name: "forgebot_session_duration_seconds",
  help: "Time from session creation to its end, by forge and final status.",
  labelNames: ["forge", "status"] as const,
  buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

export const startedNoteLatency = new Histogram({
  name: "forgebot_started_note_latency_seconds",
  help: "Time from webhook receipt to the started note being posted.",
  labelNames: ["forge"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  registers: [registry],
});

export const deliveries = new Counter({
  name: "forgebot_deliveries_total",
  help: "Replies delivered to the forge, by forge and outcome.",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const startedNoteDeletions = new Counter({
  name: "forgebot_started_note_deletions_total",
  help: "Started-note deletions, by forge and outcome (deleted, already_gone, failed).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const trackedErrors = new Counter({
  name: "forgebot_tracked_errors_total",
  help: "Errors tracked by forgebot, by the phase that failed.",
  labelNames: ["phase"] as const,
  registers: [registry],
});

export const checkpointOperations = new Counter({
  name: "forgebot_checkpoint_operations_total",
  help: "Checkpoint reads and writes, by op (write, read) and outcome (ok, error); transport failures are errors.",
  labelNames: ["op", "outcome"] as const,
  registers: [registry],
});

export const modelRequests = new Counter({
  name: "forgebot_model_requests_total",
  help: "Model API calls, by provider and outcome.",
  labelNames: ["provider", "outcome"] as const,
  registers: [registry],
});

export const modelTokens = new Counter({
  name: "forgebot_model_tokens_total",
  help: "Model tokens, by provider and kind (input, output, cached_input).",
  labelNames: ["provider", "kind"] as const,
  registers: [registry],
});

export const reaperActions = new Counter({
  name: "forgebot_reaper_actions_total",
  help: "Reaper actions, by action (session_timed_out, delivery_retried).",
  labelNames: ["action"] as const,
  registers: [registry],
});

export const lifecycleMetrics: LifecycleMetrics = {
  startedNoteDeleted: (forge, outcome) => startedNoteDeletions.inc({ forge, outcome }),
  replyDelivered: (forge, outcome) => deliveries.inc({ forge, outcome }),
  sessionTransition: (status) => sessionTransitions.inc({ status }),
  startedNoteLatency: (forge, seconds) => startedNoteLatency.observe({ forge }, seconds),
  sessionFinished: (forge, status, seconds, flow) => {
    sessionDuration.observe({ forge, status }, seconds);
    sessionsEnded.inc({ forge, flow, status });
  },
  trackedError: (phase) => trackedErrors.inc({ phase }),
  reaperAction: (action) => reaperActions.inc({ action }),
  retryRequested: (origin, outcome) => retries.inc({ origin, outcome }),
};

// Series an SLO ratio divides by start at 0, so the first error is seen by rate() (a series
// born at 1 hides its first increment).
for (const op of ["write", "read"]) for (const outcome of ["ok", "error"]) checkpointOperations.inc({ op, outcome }, 0);
for (const forge of ["github", "gitlab"]) {
  for (const outcome of ["posted", "found_existing", "failed"]) deliveries.inc({ forge, outcome }, 0);
  for (const outcome of ["deleted", "already_gone", "failed"]) startedNoteDeletions.inc({ forge, outcome }, 0);
}
