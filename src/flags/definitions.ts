import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { FlagInputError, parseActor } from "./actors.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** `config/feature_flags/` at the repository root (FEATURE_FLAGS_DIR overrides it). */
export const DEFAULT_DEFINITIONS_DIR = path.join(REPO_ROOT, "config", "feature_flags");
/** `config/feature_groups.yml` at the repository root (FEATURE_GROUPS_FILE overrides it). */
export const DEFAULT_GROUPS_FILE = path.join(REPO_ROOT, "config", "feature_groups.yml");

export const FLAG_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

const nullableUrl = z.union([z.url({ message: "expects a URL or null" }), z.null()]);

const definitionSchema = z.strictObject({
  name: z.string().regex(FLAG_NAME_PATTERN, { message: "expects snake_case" }),
  type: z.enum(["development", "ops", "beta"], { message: "expects development, ops or beta" }),
  default_enabled: z.boolean({ message: "expects true or false" }),
  description: z.string({ message: "expects a sentence" }).min(1, { message: "expects a sentence" }),
  rollout_issue_url: nullableUrl,
  introduced_by_url: nullableUrl,
  milestone: z.union([z.string(), z.number(), z.null()], { message: "expects a version such as 0.2 or null" }),
  percentage_of_actors_key: z.enum(["user", "repository"], { message: "expects user or repository" }).default("user"),
});

/** One `config/feature_flags/<name>.yml`: what the flag is for and its value while no gate is set. */
export type FlagDefinition = {
  name: string;
  type: "development" | "ops" | "beta";
  defaultEnabled: boolean;
  description: string;
  rolloutIssueUrl: string | null;
  introducedByUrl: string | null;
  milestone: string | null;
  /** What a percentage of actors rolls out over: users (the default) or repositories. */
  percentageOfActorsKey: "user" | "repository";
};

/** Group name → its actors (lower-cased actor ids). */
export type FlagGroups = ReadonlyMap<string, ReadonlySet<string>>;

/** A definition or groups file that cannot be used; the message names the file and the key. */
export class FlagDefinitionError extends Error {
  override name = "FlagDefinitionError";
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message;
}

function parseDefinition(file: string, text: string): FlagDefinition {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err: unknown) {
    throw new FlagDefinitionError(`${file}: not valid YAML`, { cause: err });
  }
  const parsed = definitionSchema.safeParse(raw);
  if (!parsed.success) throw new FlagDefinitionError(`${file}: ${issueText(parsed.error)}`);
  const d = parsed.data;
  const expected = path.basename(file, path.extname(file));
  if (d.name !== expected) throw new FlagDefinitionError(`${file}: name "${d.name}" must match the file name "${expected}"`);
  return {
    name: d.name,
    type: d.type,
    defaultEnabled: d.default_enabled,
    description: d.description,
    rolloutIssueUrl: d.rollout_issue_url,
    introducedByUrl: d.introduced_by_url,
    milestone: d.milestone === null ? null : String(d.milestone),
    percentageOfActorsKey: d.percentage_of_actors_key,
  };
}

/** Reads every `*.yml` in `dir`; throws FlagDefinitionError on the first invalid file. */
export async function loadDefinitions(dir: string = DEFAULT_DEFINITIONS_DIR): Promise<Map<string, FlagDefinition>> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err: unknown) {
    throw new FlagDefinitionError(`cannot read feature flag definitions in ${dir}`, { cause: err });
  }
  const definitions = new Map<string, FlagDefinition>();
  for (const file of files) {
    const full = path.join(dir, file);
    const definition = parseDefinition(full, await readFile(full, "utf8"));
    if (definitions.has(definition.name)) throw new FlagDefinitionError(`${full}: flag "${definition.name}" is defined twice`);
    definitions.set(definition.name, definition);
  }
  return definitions;
}

const groupsSchema = z.record(z.string().regex(FLAG_NAME_PATTERN, { message: "group names are snake_case" }), z.array(z.string()));

/**
 * Reads the groups file: a YAML mapping of group name → list of actor ids. A missing file means
 * no groups; an invalid one throws FlagDefinitionError.
 */
export async function loadGroups(file: string = DEFAULT_GROUPS_FILE): Promise<FlagGroups> {
  if (!existsSync(file)) return new Map();
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, "utf8")) ?? {};
  } catch (err: unknown) {
    throw new FlagDefinitionError(`${file}: not valid YAML`, { cause: err });
  }
  const parsed = groupsSchema.safeParse(raw);
  if (!parsed.success) throw new FlagDefinitionError(`${file}: ${issueText(parsed.error)}`);
  const groups = new Map<string, ReadonlySet<string>>();
  for (const [name, actors] of Object.entries(parsed.data)) {
    try {
      groups.set(name, new Set(actors.map(parseActor)));
    } catch (err: unknown) {
      if (err instanceof FlagInputError) throw new FlagDefinitionError(`${file}: group ${name}: ${err.message}`);
      throw err;
    }
  }
  return groups;
}
