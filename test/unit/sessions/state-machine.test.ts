import { describe, expect, it } from "@jest/globals";
import { InvalidTransitionError, isTerminal, nextStatus, type SessionEvent, type SessionStatus } from "../../../src/sessions/state-machine.js";

describe("session state machine", () => {
  const allowed: [SessionStatus, SessionEvent, SessionStatus][] = [
    ["created", "start", "running"],
    ["running", "pause", "paused"],
    ["running", "require_input", "input_required"],
    ["running", "require_plan_approval", "plan_approval_required"],
    ["running", "require_tool_call_approval", "tool_call_approval_required"],
    ["paused", "resume", "running"],
    ["input_required", "resume", "running"],
    ["plan_approval_required", "resume", "running"],
    ["tool_call_approval_required", "resume", "running"],
    ["running", "retry", "running"],
    ["created", "retry", "running"],
    ["running", "finish", "finished"],
    ["created", "drop", "failed"],
    ["running", "drop", "failed"],
    ["input_required", "drop", "failed"],
    ["created", "stop", "stopped"],
    ["running", "stop", "stopped"],
    ["paused", "stop", "stopped"],
    // Asking for the state a session is already in succeeds.
    ["finished", "finish", "finished"],
    ["failed", "drop", "failed"],
    ["stopped", "stop", "stopped"],
    ["running", "start", "running"],
  ];
  it.each(allowed)("%s --%s--> %s", (from, event, to) => {
    expect(nextStatus(from, event)).toBe(to);
  });

  const refused: [SessionStatus, SessionEvent][] = [
    ["finished", "start"],
    ["finished", "drop"],
    ["failed", "finish"],
    ["stopped", "resume"],
    ["created", "finish"],
    ["created", "pause"],
    ["paused", "finish"],
    ["finished", "stop"],
    ["failed", "retry"],
  ];
  it.each(refused)("%s refuses %s with a typed error", (from, event) => {
    expect(() => nextStatus(from, event)).toThrow(InvalidTransitionError);
  });

  it("knows the terminal states", () => {
    expect(["finished", "failed", "stopped"].every((s) => isTerminal(s as SessionStatus))).toBe(true);
    expect(isTerminal("input_required")).toBe(false);
  });
});
