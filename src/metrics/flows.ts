import { Counter, Histogram } from "prom-client";
import { registry } from "./registry.js";

/**
 * Metrics of the flows that act on a repository (reviews, change sessions and their publishing,
 * the sandbox) and of the web's sign-in and permission checks. Labels stay bounded: forge, flow,
 * status, outcome, step, origin, reason — never ids, paths or logins.
 */

export const sessionsEnded = new Counter({
  name: "forgebot_sessions_ended_total",
  help: "Sessions that reached a terminal or waiting status, by forge, flow (chat, help, review, change) and status.",
  labelNames: ["forge", "flow", "status"] as const,
  registers: [registry],
});

export const reviewsPosted = new Counter({
  name: "forgebot_reviews_total",
  help: "Review postings, by forge and outcome (posted, found_existing, failed).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const reviewComments = new Counter({
  name: "forgebot_review_comments_total",
  help: "Review findings, by forge and outcome (inline, summary: not anchorable in the diff, rejected: refused by the forge).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const publishes = new Counter({
  name: "forgebot_publishes_total",
  help: "Approved changes published as a branch and draft pull/merge request, by forge and outcome (published, failed, refused, conflict).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const publishSteps = new Counter({
  name: "forgebot_publish_steps_total",
  help: "Publish steps (blobs, tree, commit, branch, change_request), by forge, step and outcome (ok, found_existing, error).",
  labelNames: ["forge", "step", "outcome"] as const,
  registers: [registry],
});

export const sandboxCommands = new Counter({
  name: "forgebot_sandbox_commands_total",
  help: "Commands run in the sandbox, by outcome (exit_zero, exit_nonzero, timeout, limit, unavailable).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const sandboxCommandDuration = new Histogram({
  name: "forgebot_sandbox_command_duration_seconds",
  help: "Wall-clock time of sandboxed commands, by outcome.",
  labelNames: ["outcome"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});

export const workspaceBytes = new Histogram({
  name: "forgebot_workspace_bytes",
  help: "Size of a session workspace when it is ready (extracted snapshot), by forge.",
  labelNames: ["forge"] as const,
  buckets: [1e4, 1e5, 1e6, 1e7, 5e7, 1e8, 2.5e8, 5e8],
  registers: [registry],
});

export const workspaceCreation = new Histogram({
  name: "forgebot_workspace_create_seconds",
  help: "Time to make a session workspace ready (download, extract, initial commit), by forge and outcome (ok, error, too_large).",
  labelNames: ["forge", "outcome"] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const signIns = new Counter({
  name: "forgebot_signins_total",
  help: "Sign-ins through a forge, by forge and outcome (ok, denied, bad_state, error).",
  labelNames: ["forge", "outcome"] as const,
  registers: [registry],
});

export const permissionRefusals = new Counter({
  name: "forgebot_permission_refusals_total",
  help: "Requests refused for lack of identity or permission, by forge and reason (anonymous, not_reader, not_writer, flag_off, csrf).",
  labelNames: ["forge", "reason"] as const,
  registers: [registry],
});

export const retries = new Counter({
  name: "forgebot_retries_total",
  help: "Retries asked for, by origin (button, command) and outcome (started, duplicate, refused, not_allowed).",
  labelNames: ["origin", "outcome"] as const,
  registers: [registry],
});

// Series an SLO ratio divides by start at 0, so the first error is seen by rate().
for (const forge of ["github", "gitlab"]) {
  for (const outcome of ["posted", "found_existing", "failed"]) reviewsPosted.inc({ forge, outcome }, 0);
  for (const outcome of ["published", "failed", "refused", "conflict"]) publishes.inc({ forge, outcome }, 0);
}
