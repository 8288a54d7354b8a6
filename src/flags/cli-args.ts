import { parseArgs } from "node:util";
import { FlagInputError, parseActor } from "./actors.js";
import { FLAG_NAME_PATTERN } from "./definitions.js";

export const FEATURE_USAGE = `Usage: forgebot feature <command>

  list                                   every defined or stored flag and its state
  get NAME                               one flag: definition, gates, state
  set NAME true|false                    fully on / fully off (replaces every gate)
  set NAME true|false --actor ID ...     enable / disable for actors (github:octocat, gitlab:42,
                                         github:repo:owner/name, gitlab:project:group/name)
  set NAME true|false --group NAME ...   enable / disable for a group of config/feature_groups.yml
  set NAME PCT --actors                  enable for PCT % (0-100) of actors, stable per actor
  set NAME PCT --random                  enable for PCT % of checks
  delete NAME                            remove every gate: back to the definition's default
`;

/** One parsed `forgebot feature …` command line. */
export type FeatureCommand =
  | { kind: "help" }
  | { kind: "list" }
  | { kind: "get"; name: string }
  | { kind: "delete"; name: string }
  | { kind: "set-boolean"; name: string; enabled: boolean }
  | { kind: "set-targets"; name: string; enabled: boolean; actors: string[]; groups: string[] }
  | { kind: "set-percentage"; name: string; gate: "percentage_of_actors" | "percentage_of_time"; percentage: number };

function flagName(raw: string | undefined, command: string): string {
  if (raw === undefined) throw new FlagInputError(`${command} needs a flag NAME`);
  if (!FLAG_NAME_PATTERN.test(raw)) throw new FlagInputError(`invalid flag name "${raw}": expected snake_case such as manual_retry`);
  return raw;
}

function splitValues(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

function parsePercentage(raw: string): number | null {
  if (!/^\d+(\.\d+)?$/.test(raw)) return null;
  // Buckets are 0.001 % wide (see gates.ts), so more decimals would be silently rounded.
  if (!/^\d{1,3}(\.\d{1,3})?$/.test(raw) || Number(raw) > 100) {
    throw new FlagInputError(`invalid percentage ${raw}: expected a number from 0 to 100 with at most three decimals`);
  }
  return Number(raw);
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        actors: { type: "boolean" },
        random: { type: "boolean" },
        actor: { type: "string", multiple: true },
        group: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err: unknown) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      throw new FlagInputError((err as Error).message.split(". ")[0] ?? "invalid arguments");
    }
    throw err;
  }
}

function parseSet(positionals: string[], values: ReturnType<typeof parseOptions>["values"]): FeatureCommand {
  const name = flagName(positionals[0], "set");
  const raw = positionals[1];
  if (raw === undefined) throw new FlagInputError("set needs a value: true, false or a percentage (0-100) with --actors or --random");
  const actors = splitValues(values.actor).map(parseActor);
  const groups = splitValues(values.group);
  for (const group of groups) {
    if (!FLAG_NAME_PATTERN.test(group)) throw new FlagInputError(`invalid group name "${group}": expected snake_case`);
  }
  if ((values.actor && actors.length === 0) || (values.group && groups.length === 0)) {
    throw new FlagInputError("--actor and --group need a value");
  }
  const lowered = raw.toLowerCase();
  if (lowered === "true" || lowered === "false") {
    if (values.actors || values.random) throw new FlagInputError("--actors and --random go with a percentage, not with true or false");
    const enabled = lowered === "true";
    if (actors.length || groups.length) return { kind: "set-targets", name, enabled, actors, groups };
    return { kind: "set-boolean", name, enabled };
  }
  const percentage = parsePercentage(raw);
  if (percentage === null) throw new FlagInputError(`invalid value "${raw}": expected true, false or a percentage from 0 to 100`);
  if (values.actors && values.random) throw new FlagInputError("choose one of --actors and --random");
  if (!values.actors && !values.random) {
    throw new FlagInputError(`a percentage needs --actors (${raw} % of actors, stable per actor) or --random (${raw} % of checks)`);
  }
  if (actors.length || groups.length) throw new FlagInputError("a percentage cannot be combined with --actor or --group");
  return { kind: "set-percentage", name, gate: values.actors ? "percentage_of_actors" : "percentage_of_time", percentage };
}

/** Parses the arguments after `forgebot feature`; throws FlagInputError for anything it cannot run. */
export function parseFeatureArgs(args: string[]): FeatureCommand {
  const { values, positionals } = parseOptions(args);
  const [sub, ...rest] = positionals;
  if (values.help || sub === "help") return { kind: "help" };
  if (sub === undefined) throw new FlagInputError("missing command: list, get, set or delete");
  if (sub !== "set" && (values.actors || values.random || values.actor || values.group)) {
    throw new FlagInputError(`${sub} takes no options`);
  }
  const maxArgs: Record<string, number> = { list: 0, get: 1, delete: 1, set: 2 };
  const max = maxArgs[sub];
  if (max === undefined) throw new FlagInputError(`unknown command "${sub}": expected list, get, set or delete`);
  if (rest.length > max) throw new FlagInputError(`unexpected argument "${rest[max]}"`);
  if (sub === "list") return { kind: "list" };
  if (sub === "get") return { kind: "get", name: flagName(rest[0], "get") };
  if (sub === "delete") return { kind: "delete", name: flagName(rest[0], "delete") };
  return parseSet(rest, values);
}
