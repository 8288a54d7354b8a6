import { describe, expect, it } from "@jest/globals";
import { actorBucket, evaluateGates, flagState, gatesFromRows, inActorPercentage, type FlagGates } from "../../../src/flags/gates.js";

/** A textbook CRC-32 (IEEE, reflected, 0xEDB88320), independent of node:zlib. */
function referenceCrc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const ACTORS = Array.from({ length: 10_000 }, (_, i) => `github:user${i}`);

function enabledSet(flag: string, percentage: number): Set<string> {
  return new Set(ACTORS.filter((a) => inActorPercentage(flag, a, percentage)));
}

describe("percentage of actors", () => {
  it("buckets by crc32(flag name + actor id) modulo 100 000", () => {
    expect(referenceCrc32("123456789")).toBe(0xcbf43926); // the CRC-32 check value
    for (const [flag, actor] of [["manual_retry", "github:octocat"], ["rollout_a", "gitlab:42"], ["x", "github:repo:owner/name"]] as const) {
      expect(actorBucket(flag, actor)).toBe(referenceCrc32(`${flag}${actor}`) % 100_000);
    }
  });

  it("50 % of 10 000 actors is 50 % ± 2 %, for several flags", () => {
    for (const flag of ["rollout_a", "rollout_b", "manual_retry", "provider_stickiness"]) {
      const share = enabledSet(flag, 50).size / ACTORS.length;
      expect(Math.abs(share - 0.5)).toBeLessThanOrEqual(0.02);
    }
  });

  it("other percentages land within 2 points too, and 0 / 100 are exact", () => {
    for (const pct of [1, 10, 25, 75, 99]) {
      expect(Math.abs(enabledSet("rollout_a", pct).size / ACTORS.length - pct / 100)).toBeLessThanOrEqual(0.02);
    }
    expect(enabledSet("rollout_a", 0).size).toBe(0);
    expect(enabledSet("rollout_a", 100).size).toBe(ACTORS.length);
  });

  it("picks the same actors on every call", () => {
    expect([...enabledSet("rollout_a", 50)]).toEqual([...enabledSet("rollout_a", 50)]);
  });

  it("two flags at 50 % pick different actor sets (about a quarter overlap)", () => {
    const a = enabledSet("rollout_a", 50);
    const b = enabledSet("rollout_b", 50);
    const both = [...a].filter((actor) => b.has(actor)).length;
    expect(a).not.toEqual(b);
    expect(Math.abs(both / ACTORS.length - 0.25)).toBeLessThanOrEqual(0.02);
  });

  it("raising the percentage keeps every actor already enabled (incremental rollout)", () => {
    const steps = [1, 10, 25, 50, 100].map((pct) => enabledSet("rollout_a", pct));
    for (let i = 1; i < steps.length; i++) {
      for (const actor of steps[i - 1]!) expect(steps[i]!.has(actor)).toBe(true);
    }
  });
});

const NONE: FlagGates = { boolean: false, actors: new Set(), groups: new Set(), percentageOfActors: null, percentageOfTime: null };
const GROUPS = new Map([["staff", new Set(["github:alice", "gitlab:7"])]]);
const inHalf = ACTORS.find((a) => inActorPercentage("f", a, 50))!;
const outOfHalf = ACTORS.find((a) => !inActorPercentage("f", a, 50))!;

function check(gates: FlagGates | undefined, actor: string | undefined, options: { defaultEnabled?: boolean; draw?: number } = {}): boolean {
  return evaluateGates(gates, { flagName: "f", actors: { user: actor }, percentageKey: "user", defaultEnabled: options.defaultEnabled ?? false, groups: GROUPS, random: () => options.draw ?? 0.99 });
}

describe("evaluateGates", () => {
  it.each([
    ["no stored gates, default on", undefined, "github:x", { defaultEnabled: true }, true],
    ["no stored gates, default off", undefined, "github:x", {}, false],
    ["stored but every gate closed ignores the default", NONE, "github:x", { defaultEnabled: true }, false],
    ["boolean true", { ...NONE, boolean: true }, undefined, {}, true],
    ["actor listed", { ...NONE, actors: new Set(["github:x"]) }, "github:x", {}, true],
    ["actor not listed", { ...NONE, actors: new Set(["github:x"]) }, "github:y", {}, false],
    ["actor gate without an actor", { ...NONE, actors: new Set(["github:x"]) }, undefined, {}, false],
    ["actor in a listed group", { ...NONE, groups: new Set(["staff"]) }, "gitlab:7", {}, true],
    ["actor outside the listed group", { ...NONE, groups: new Set(["staff"]) }, "github:bob", {}, false],
    ["group missing from config", { ...NONE, groups: new Set(["ghosts"]) }, "github:alice", {}, false],
    ["actor inside the percentage", { ...NONE, percentageOfActors: 50 }, inHalf, {}, true],
    ["actor outside the percentage", { ...NONE, percentageOfActors: 50 }, outOfHalf, {}, false],
    ["percentage of actors without an actor", { ...NONE, percentageOfActors: 100 }, undefined, {}, false],
    ["draw inside the percentage of time", { ...NONE, percentageOfTime: 30 }, undefined, { draw: 0.29 }, true],
    ["draw outside the percentage of time", { ...NONE, percentageOfTime: 30 }, undefined, { draw: 0.3 }, false],
    ["combined: only the group gate open", { ...NONE, actors: new Set(["github:x"]), groups: new Set(["staff"]), percentageOfActors: 0 }, "github:alice", {}, true],
    ["combined: only the percentage gate open", { ...NONE, actors: new Set(["github:x"]), groups: new Set(["staff"]), percentageOfActors: 50 }, inHalf, {}, true],
    ["combined: every gate closed", { ...NONE, actors: new Set(["github:x"]), groups: new Set(["staff"]), percentageOfActors: 50, percentageOfTime: 10 }, outOfHalf, { draw: 0.5 }, false],
    ["combined: only the time gate open", { ...NONE, actors: new Set(["github:x"]), percentageOfActors: 50, percentageOfTime: 10 }, outOfHalf, { draw: 0.05 }, true],
  ] as const)("%s", (_name, gates, actor, options, expected) => {
    expect(check(gates as FlagGates | undefined, actor, options)).toBe(expected);
  });
});

describe("evaluateGates for a user in a repository", () => {
  const REPO = "github:repo:owner/name";
  const repoInHalf = ACTORS.map((_a, i) => `github:repo:owner/repo${i}`).find((r) => inActorPercentage("f", r, 50))!;
  const userOutOfHalfForRepo = ACTORS.find((a) => !inActorPercentage("f", a, 50))!;
  function checkBoth(gates: FlagGates, user: string | undefined, repository: string | undefined, percentageKey: "user" | "repository" = "user"): boolean {
    return evaluateGates(gates, { flagName: "f", actors: { user, repository }, percentageKey, defaultEnabled: false, groups: GROUPS, random: () => 0.99 });
  }
  it.each([
    ["repository listed opens for any user in it", { ...NONE, actors: new Set([REPO]) }, "github:someone", REPO, "user", true],
    ["repository listed does not open for another repository", { ...NONE, actors: new Set([REPO]) }, "github:someone", "github:repo:other/name", "user", false],
    ["repository in a listed group", { ...NONE, groups: new Set(["staff"]) }, "github:someone", "gitlab:7", "user", true],
    ["percentage keyed on the repository: repository inside", { ...NONE, percentageOfActors: 50 }, userOutOfHalfForRepo, repoInHalf, "repository", true],
    ["percentage keyed on the user ignores the repository", { ...NONE, percentageOfActors: 50 }, userOutOfHalfForRepo, repoInHalf, "user", false],
    ["percentage keyed on the repository without one", { ...NONE, percentageOfActors: 100 }, "github:someone", undefined, "repository", false],
  ] as const)("%s", (_name, gates, user, repository, key, expected) => {
    expect(checkBoth(gates as FlagGates, user, repository, key)).toBe(expected);
  });
});

describe("gatesFromRows and flagState", () => {
  it("groups rows by flag and summarizes the state", () => {
    const gates = gatesFromRows([
      { flagName: "a", kind: "boolean", value: "false" },
      { flagName: "a", kind: "actors", value: "github:x" },
      { flagName: "a", kind: "groups", value: "staff" },
      { flagName: "a", kind: "percentage_of_actors", value: "12.5" },
      { flagName: "b", kind: "boolean", value: "true" },
      { flagName: "c", kind: "boolean", value: "false" },
      { flagName: "d", kind: "percentage_of_time", value: "100" },
    ]);
    expect(gates.get("a")).toEqual({ boolean: false, actors: new Set(["github:x"]), groups: new Set(["staff"]), percentageOfActors: 12.5, percentageOfTime: null });
    expect([...gates.keys()].sort()).toEqual(["a", "b", "c", "d"]);
    expect(flagState(gates.get("a"), true)).toBe("conditional");
    expect(flagState(gates.get("b"), false)).toBe("on");
    expect(flagState(gates.get("c"), true)).toBe("off");
    expect(flagState(gates.get("d"), false)).toBe("on");
    expect(flagState(undefined, true)).toBe("on");
    expect(flagState(undefined, false)).toBe("off");
  });
});
