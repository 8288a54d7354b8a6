import picomatch from "picomatch";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../sessions/forge-port.js";

/** The repository's own settings file, read at the thread's ref. */
export const REPO_SETTINGS_FILE = ".forgebot.yml";

/** What a repository may set in `.forgebot.yml`; every key is optional. */
export type RepoSettings = {
  review: {
    /** Globs of files a review skips, on top of lockfiles, generated, vendored and binary files. */
    ignore: string[];
    /** Extra instructions for the reviewer (house rules, what to look at). */
    instructions: string | null;
  };
  changes: {
    /** Globs a change session may not edit, on top of CI definitions. */
    protected: string[];
    /** Whether a change waits for `@forgebot apply` before it is published; null: the installation's CHANGE_APPROVAL. */
    approval: "always" | "never" | null;
  };
};

export const DEFAULT_REPO_SETTINGS: RepoSettings = {
  review: { ignore: [], instructions: null },
  changes: { protected: [], approval: null },
};

/** The settings to use, and what was wrong with the file (each problem names its key). */
export type LoadedRepoSettings = { settings: RepoSettings; problems: string[]; found: boolean };

const MAX_INSTRUCTIONS_CHARS = 4000;
const globs = z.array(z.string().min(1).max(500), { message: "expects a list of glob patterns" }).max(200, { message: "expects at most 200 patterns" });

/** One schema per key, so a bad key falls back alone and the rest of the file still counts. */
const KEYS = {
  "review.ignore": globs,
  "review.instructions": z.string({ message: "expects text" }).max(MAX_INSTRUCTIONS_CHARS, { message: `expects at most ${MAX_INSTRUCTIONS_CHARS} characters` }),
  "changes.protected": globs,
  "changes.approval": z.enum(["always", "never"], { message: "expects always or never" }),
} as const;

type Key = keyof typeof KEYS;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A glob that compiles (picomatch throws on some malformed patterns). */
function validGlob(pattern: string): boolean {
  try {
    picomatch(pattern);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a parsed `.forgebot.yml`. Never throws: an invalid key is reported and its default
 * used, an unknown key is reported and ignored, everything valid is kept.
 */
export function parseRepoSettings(raw: unknown): { settings: RepoSettings; problems: string[] } {
  const settings: RepoSettings = structuredClone(DEFAULT_REPO_SETTINGS);
  const problems: string[] = [];
  if (raw === null || raw === undefined) return { settings, problems };
  if (!isRecord(raw)) return { settings, problems: ["the file: expects a mapping of keys such as review: and changes:"] };
  for (const [section, value] of Object.entries(raw)) {
    if (section !== "review" && section !== "changes") {
      problems.push(`${section}: unknown key (known: review, changes)`);
      continue;
    }
    if (!isRecord(value)) {
      problems.push(`${section}: expects a mapping`);
      continue;
    }
    for (const [name, given] of Object.entries(value)) {
      const key = `${section}.${name}`;
      const schema = (KEYS as Record<string, z.ZodType>)[key];
      if (!schema) {
        problems.push(`${key}: unknown key`);
        continue;
      }
      const parsed = schema.safeParse(given);
      if (!parsed.success) {
        problems.push(`${key}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
        continue;
      }
      if (Array.isArray(parsed.data) && !parsed.data.every((p) => typeof p === "string" && validGlob(p))) {
        problems.push(`${key}: expects a list of glob patterns`);
        continue;
      }
      assign(settings, key as Key, parsed.data);
    }
  }
  return { settings, problems };
}

function assign(settings: RepoSettings, key: Key, value: unknown): void {
  if (key === "review.ignore") settings.review.ignore = value as string[];
  else if (key === "review.instructions") settings.review.instructions = value as string;
  else if (key === "changes.protected") settings.changes.protected = value as string[];
  else settings.changes.approval = value as "always" | "never";
}

/**
 * Reads `.forgebot.yml` at `ref` (default: the thread's head). A missing file is the defaults;
 * a file that cannot be read or parsed is the defaults with a problem saying so. Never throws:
 * a bad file never stops a session.
 */
export async function loadRepoSettings(client: Pick<ForgeClient, "readFile">, thread: ThreadRef, ref?: string): Promise<LoadedRepoSettings> {
  if (!client.readFile) return { settings: structuredClone(DEFAULT_REPO_SETTINGS), problems: [], found: false };
  let text: string;
  try {
    text = await client.readFile(thread, REPO_SETTINGS_FILE, ref);
  } catch (err: unknown) {
    if (err instanceof ForgeApiError && err.status === 404) return { settings: structuredClone(DEFAULT_REPO_SETTINGS), problems: [], found: false };
    const status = err instanceof ForgeApiError && err.status ? ` (${err.status})` : "";
    return { settings: structuredClone(DEFAULT_REPO_SETTINGS), problems: [`the file could not be read${status}`], found: false };
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch {
    return { settings: structuredClone(DEFAULT_REPO_SETTINGS), problems: ["the file is not valid YAML"], found: true };
  }
  return { ...parseRepoSettings(raw), found: true };
}

/** The line a reply carries when the file had problems: what was ignored and why, key by key. */
export function repoSettingsNotice(problems: readonly string[]): string | null {
  if (problems.length === 0) return null;
  const items = problems.map((p) => `\`${p.split(":")[0]}\`${p.includes(":") ? `:${p.slice(p.indexOf(":") + 1)}` : ""}`);
  return `Note: \`${REPO_SETTINGS_FILE}\` has problems, so the defaults were used for ${items.join("; ")}.`;
}

/** A matcher for a list of globs (dotfiles included); matches nothing when the list is empty. */
export function globMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  return picomatch([...patterns], { dot: true });
}
