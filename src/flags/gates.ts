import { crc32 } from "node:zlib";
import type { FlagGroups } from "./definitions.js";

export const GATE_KINDS = ["boolean", "actors", "groups", "percentage_of_actors", "percentage_of_time"] as const;
export type GateKind = (typeof GATE_KINDS)[number];

/** A `feature_gates` row as stored. */
export type GateRow = { flagName: string; kind: GateKind; value: string };

/** Every gate of one stored flag. A stored flag with no open gate is off. */
export type FlagGates = {
  boolean: boolean | null;
  actors: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  percentageOfActors: number | null;
  percentageOfTime: number | null;
};

/** Percentage buckets: 100 000 of them, so rollouts can go down to 0.001 %. */
const BUCKETS = 100_000;

/**
 * The actor's bucket for this flag, 0..99 999: crc32 of flag name + actor id. Stable across calls
 * and processes, and salted with the flag name so two flags at 50 % pick different actors.
 */
export function actorBucket(flagName: string, actor: string): number {
  return crc32(`${flagName}${actor}`) % BUCKETS;
}

/** True when the actor falls inside `percentage` (0–100) of actors for this flag. */
export function inActorPercentage(flagName: string, actor: string, percentage: number): boolean {
  return actorBucket(flagName, actor) < Math.round(percentage * 1000);
}

/** Groups the rows of `feature_gates` by flag name. */
export function gatesFromRows(rows: readonly GateRow[]): Map<string, FlagGates> {
  const byFlag = new Map<string, { boolean: boolean | null; actors: Set<string>; groups: Set<string>; percentageOfActors: number | null; percentageOfTime: number | null }>();
  for (const row of rows) {
    let gates = byFlag.get(row.flagName);
    if (!gates) {
      gates = { boolean: null, actors: new Set(), groups: new Set(), percentageOfActors: null, percentageOfTime: null };
      byFlag.set(row.flagName, gates);
    }
    if (row.kind === "boolean") gates.boolean = row.value === "true";
    else if (row.kind === "actors") gates.actors.add(row.value);
    else if (row.kind === "groups") gates.groups.add(row.value);
    else if (row.kind === "percentage_of_actors") gates.percentageOfActors = Number(row.value);
    else gates.percentageOfTime = Number(row.value);
  }
  return byFlag;
}

/**
 * Who a check is about, as lower-cased actor ids: the user acting and the repository they act
 * in. Actor and group gates open for either; a percentage of actors keys on the one the flag's
 * definition names (`percentage_of_actors_key`).
 */
export type CheckActors = { user?: string | undefined; repository?: string | undefined };

export type PercentageKey = keyof CheckActors;

export type EvaluationContext = {
  flagName: string;
  actors: CheckActors;
  /** Which actor a percentage of actors is taken over (the definition's `percentage_of_actors_key`). */
  percentageKey: PercentageKey;
  /** The definition's default, used when the flag has no stored gates. */
  defaultEnabled: boolean;
  groups: FlagGroups;
  /** Returns [0, 1); Math.random in production. */
  random: () => number;
};

/**
 * A flag with no stored gates follows its definition's default. A stored flag is on when any
 * gate is open: boolean true, the user or the repository listed or in a listed group, the keyed
 * actor inside the percentage of actors, or a draw inside the percentage of time.
 */
export function evaluateGates(gates: FlagGates | undefined, ctx: EvaluationContext): boolean {
  if (!gates) return ctx.defaultEnabled;
  if (gates.boolean === true) return true;
  for (const actor of [ctx.actors.user, ctx.actors.repository]) {
    if (actor === undefined) continue;
    if (gates.actors.has(actor)) return true;
    for (const group of gates.groups) {
      if (ctx.groups.get(group)?.has(actor)) return true;
    }
  }
  const keyed = ctx.actors[ctx.percentageKey];
  if (keyed !== undefined && gates.percentageOfActors !== null && inActorPercentage(ctx.flagName, keyed, gates.percentageOfActors)) return true;
  return gates.percentageOfTime !== null && ctx.random() * 100 < gates.percentageOfTime;
}

export type FlagState = "on" | "off" | "conditional";

/** Summarizes a flag for operators: fully on, fully off, or on for some actors or some of the time. */
export function flagState(gates: FlagGates | undefined, defaultEnabled: boolean): FlagState {
  if (!gates) return defaultEnabled ? "on" : "off";
  if (gates.boolean === true || gates.percentageOfTime === 100) return "on";
  const conditional =
    gates.actors.size > 0 || gates.groups.size > 0 || (gates.percentageOfActors ?? 0) > 0 || (gates.percentageOfTime ?? 0) > 0;
  return conditional ? "conditional" : "off";
}
