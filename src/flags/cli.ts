import type { Config } from "../config/index.js";
import { migrate } from "../storage/migrate.js";
import { FlagInputError } from "./actors.js";
import { FEATURE_USAGE, parseFeatureArgs, type FeatureCommand } from "./cli-args.js";
import { openCliDatabase, type CliDatabase } from "./cli-database.js";
import { DEFAULT_DEFINITIONS_DIR, DEFAULT_GROUPS_FILE, FlagDefinitionError, loadDefinitions, loadGroups, type FlagDefinition, type FlagGroups } from "./definitions.js";
import { createGateStore, type GateStore } from "./gate-store.js";
import { describeFlag, describeList } from "./format.js";

/** `message: cause message: …`, so a database error names what failed and why. */
function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 4; e = e instanceof Error ? e.cause : undefined) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(": ");
}

type Output = { out(text: string): void; err(text: string): void };

const stdio: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Checks that need only the definition files, so bad input exits 2 before any database work. */
function checkAgainstConfig(command: FeatureCommand, definitions: ReadonlyMap<string, FlagDefinition>, groups: FlagGroups, definitionsDir: string): void {
  if (command.kind !== "set-boolean" && command.kind !== "set-targets" && command.kind !== "set-percentage") return;
  if (!definitions.has(command.name)) {
    throw new FlagInputError(`unknown feature flag "${command.name}": add ${definitionsDir}/${command.name}.yml first`);
  }
  if (command.kind === "set-targets") {
    const unknown = command.groups.filter((g) => !groups.has(g));
    if (unknown.length) {
      const known = groups.size ? [...groups.keys()].sort().join(", ") : "none are defined";
      throw new FlagInputError(`unknown group "${unknown[0]}" (groups: ${known})`);
    }
  }
}

async function execute(command: FeatureCommand, store: GateStore, definitions: ReadonlyMap<string, FlagDefinition>, io: Output): Promise<number> {
  if (command.kind === "list") {
    io.out(describeList(definitions, await store.loadAll()));
    return 0;
  }
  if (command.kind === "help") return 0;
  const { name } = command;
  if (command.kind === "get" || command.kind === "delete") {
    const gates = await store.find(name);
    if (!gates && !definitions.has(name)) throw new FlagInputError(`unknown feature flag "${name}": no definition and nothing stored`);
    if (command.kind === "get") {
      io.out(describeFlag(name, definitions.get(name), gates));
      return 0;
    }
    const removed = await store.deleteFlag(name);
    const fallback = definitions.get(name);
    io.out(`${name}: removed ${removed} gate${removed === 1 ? "" : "s"}; ${fallback ? `follows default_enabled (${fallback.defaultEnabled})` : "it is off"}\n`);
    return 0;
  }
  if (command.kind === "set-boolean") await store.setBoolean(name, command.enabled);
  else if (command.kind === "set-percentage") await store.setPercentage(name, command.gate, command.percentage);
  else {
    const write = command.enabled ? store.addValues : store.removeValues;
    if (command.actors.length) await write(name, "actors", command.actors);
    if (command.groups.length) await write(name, "groups", command.groups);
  }
  io.out(describeFlag(name, definitions.get(name), await store.find(name)));
  return 0;
}

/**
 * `forgebot feature list | get NAME | set NAME true|false|PCT [--actors|--random] [--actor ID]
 * [--group NAME] | delete NAME`. Returns 0, or 2 with a one-line message for bad input (unknown
 * flag, group or option, a percentage without --actors/--random, an invalid definition file).
 * Changes reach running processes through the `feature_gates` trigger's NOTIFY.
 */
export async function runFeatureCli(config: Config, args: string[], io: Output = stdio): Promise<number> {
  const definitionsDir = config.flags.definitionsDir ?? DEFAULT_DEFINITIONS_DIR;
  let command: FeatureCommand;
  let definitions: Map<string, FlagDefinition>;
  try {
    command = parseFeatureArgs(args);
    if (command.kind === "help") {
      io.out(FEATURE_USAGE);
      return 0;
    }
    definitions = await loadDefinitions(definitionsDir);
    const groups = await loadGroups(config.flags.groupsFile ?? DEFAULT_GROUPS_FILE);
    checkAgainstConfig(command, definitions, groups, definitionsDir);
  } catch (err: unknown) {
    if (err instanceof FlagInputError) {
      io.err(`forgebot feature: ${err.message}\n${args.length ? "Run `forgebot feature help` for usage.\n" : `\n${FEATURE_USAGE}`}`);
      return 2;
    }
    if (err instanceof FlagDefinitionError) {
      io.err(`forgebot feature: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  let database: CliDatabase | null = null;
  try {
    database = await openCliDatabase(config, (line) => io.err(`${line}\n`));
    await migrate(database.db);
    return await execute(command, createGateStore(database.db), definitions, io);
  } catch (err: unknown) {
    if (err instanceof FlagInputError) {
      io.err(`forgebot feature: ${err.message}\n`);
      return 2;
    }
    io.err(`forgebot feature: database error: ${errorChain(err)}\n`);
    return 1;
  } finally {
    await database?.close();
  }
}
