import { describe, expect, it } from "@jest/globals";
import { buttonTriggerKey, DOUBLE_FIRE_MS } from "../../../src/lifecycle/retry.js";
import type { Session } from "../../../src/sessions/session.js";
import type { SessionStatus } from "../../../src/sessions/state-machine.js";

const now = new Date("2030-01-01T12:00:00Z");
const parent = { id: 7 } as Session;

function child(id: number, status: SessionStatus, ageMs: number, triggerKey: string | null = `retry-of-7-after-${id - 1}`): Session {
  return { id, status, createdAt: new Date(now.getTime() - ageMs), triggerKey } as Session;
}

describe("buttonTriggerKey: what makes a button press a new retry", () => {
  const cases: [string, Session | null, string][] = [
    ["the first retry of a parent", null, "retry-of-7-after-0"],
    ["a press while the last retry is created", child(12, "created", 60_000), "retry-of-7-after-11"],
    ["a press while the last retry runs", child(12, "running", 60_000), "retry-of-7-after-11"],
    ["a press while the last retry waits for input", child(12, "input_required", 60_000), "retry-of-7-after-11"],
    ["a press a moment after a retry that already finished", child(12, "finished", DOUBLE_FIRE_MS - 100), "retry-of-7-after-11"],
    ["a press after the last retry finished", child(12, "finished", DOUBLE_FIRE_MS + 100), "retry-of-7-after-12"],
    ["a press after the last retry failed", child(12, "failed", 60_000), "retry-of-7-after-12"],
    ["a press after the last retry was stopped", child(12, "stopped", 60_000), "retry-of-7-after-12"],
    ["a press while an older-style retry (`retry-of-7`) runs", child(12, "running", 60_000, "retry-of-7"), "retry-of-7"],
  ];
  it.each(cases)("%s", (_what, previous, expected) => {
    expect(buttonTriggerKey(parent, previous, now)).toBe(expected);
  });

  it("is the same for every concurrent press that read the same last retry", () => {
    const previous = child(30, "finished", 60_000);
    expect(new Set(Array.from({ length: 8 }, () => buttonTriggerKey(parent, previous, now))).size).toBe(1);
  });
});
