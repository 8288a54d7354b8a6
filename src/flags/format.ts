import type { FlagDefinition } from "./definitions.js";
import { flagState, type FlagGates } from "./gates.js";

/** The stored gates in one line, e.g. `actors github:octocat; 50% of actors`. */
export function describeGates(gates: FlagGates | null, definition: FlagDefinition | undefined): string {
  if (!gates) return definition ? `no gates stored: follows default_enabled (${definition.defaultEnabled})` : "no gates stored";
  if (gates.boolean === true) return "fully on";
  const parts: string[] = [];
  if (gates.actors.size) parts.push(`actors ${[...gates.actors].sort().join(", ")}`);
  if (gates.groups.size) parts.push(`groups ${[...gates.groups].sort().join(", ")}`);
  if (gates.percentageOfActors !== null) parts.push(`${gates.percentageOfActors}% of actors`);
  if (gates.percentageOfTime !== null) parts.push(`${gates.percentageOfTime}% of time`);
  return parts.length ? parts.join("; ") : "fully off";
}

function stateOf(gates: FlagGates | null, definition: FlagDefinition | undefined): string {
  return flagState(gates ?? undefined, definition?.defaultEnabled ?? false);
}

/** `get NAME` and the answer to `set`: state, gates and the definition. */
export function describeFlag(name: string, definition: FlagDefinition | undefined, gates: FlagGates | null): string {
  const lines = [`${name}: ${stateOf(gates, definition)}`, `  gates:            ${describeGates(gates, definition)}`];
  if (!definition) {
    lines.push(`  definition:       none (config/feature_flags/${name}.yml is missing; checks log a warning)`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(
    `  type:             ${definition.type}`,
    `  default_enabled:  ${definition.defaultEnabled}${gates ? " (not applied: gates are stored)" : ""}`,
    `  description:      ${definition.description}`,
    `  rollout issue:    ${definition.rolloutIssueUrl ?? "-"}`,
    `  introduced by:    ${definition.introducedByUrl ?? "-"}`,
    `  milestone:        ${definition.milestone ?? "-"}`,
  );
  return `${lines.join("\n")}\n`;
}

/** `list`: one row per defined or stored flag, sorted by name. */
export function describeList(definitions: ReadonlyMap<string, FlagDefinition>, stored: ReadonlyMap<string, FlagGates>): string {
  const names = [...new Set([...definitions.keys(), ...stored.keys()])].sort();
  if (names.length === 0) return "no feature flags are defined\n";
  const rows = names.map((name) => {
    const definition = definitions.get(name);
    const gates = stored.get(name) ?? null;
    return [name, definition?.type ?? "(undefined)", stateOf(gates, definition), describeGates(gates, definition)];
  });
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join("  ")).join("\n") + "\n";
}
