/**
 * The session state machine, after GitLab's workflow machine. Pure: storage applies a
 * transition with compare-and-set, so two workers racing on one session cannot both win.
 */

export const SESSION_STATUSES = [
  "created",
  "running",
  "paused",
  "input_required",
  "plan_approval_required",
  "tool_call_approval_required",
  "finished",
  "failed",
  "stopped",
] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export type SessionEvent =
  | "start"
  | "pause"
  | "require_input"
  | "require_plan_approval"
  | "require_tool_call_approval"
  | "resume"
  | "retry"
  | "finish"
  | "drop"
  | "stop";

export const TERMINAL_STATUSES: readonly SessionStatus[] = ["finished", "failed", "stopped"];
/** Every status that is not terminal: the session may still run, wait or be stopped. */
export const ACTIVE_STATUSES: readonly SessionStatus[] = SESSION_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));
const WAITING: readonly SessionStatus[] = ["paused", "input_required", "plan_approval_required", "tool_call_approval_required"];
const NON_TERMINAL: readonly SessionStatus[] = ["created", "running", ...WAITING];

const RULES: Record<SessionEvent, { from: readonly SessionStatus[]; to: SessionStatus }> = {
  start: { from: ["created"], to: "running" },
  pause: { from: ["running"], to: "paused" },
  require_input: { from: ["running"], to: "input_required" },
  require_plan_approval: { from: ["running"], to: "plan_approval_required" },
  require_tool_call_approval: { from: ["running"], to: "tool_call_approval_required" },
  resume: { from: WAITING, to: "running" },
  // A job run again after a crash: the session continues from its last checkpoint.
  retry: { from: ["created", "running"], to: "running" },
  finish: { from: ["running"], to: "finished" },
  drop: { from: NON_TERMINAL, to: "failed" },
  stop: { from: NON_TERMINAL, to: "stopped" },
};

export class InvalidTransitionError extends Error {
  override name = "InvalidTransitionError";
  constructor(
    readonly from: SessionStatus,
    readonly event: SessionEvent,
  ) {
    super(`cannot ${event} a session that is ${from}`);
  }
}

export function isTerminal(status: SessionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The status `event` leads to. */
export function targetOf(event: SessionEvent): SessionStatus {
  return RULES[event].to;
}

/** Statuses from which `event` may fire (the compare-and-set guard). */
export function allowedFrom(event: SessionEvent): readonly SessionStatus[] {
  return RULES[event].from;
}

/**
 * The status after `event`. Asking for the status the session is already in succeeds (repeat
 * safety); anything else disallowed throws InvalidTransitionError.
 */
export function nextStatus(current: SessionStatus, event: SessionEvent): SessionStatus {
  const rule = RULES[event];
  if (current === rule.to) return current;
  if (!rule.from.includes(current)) throw new InvalidTransitionError(current, event);
  return rule.to;
}
