import type { Logger } from "../sessions/ports.js";
import type { Db } from "../storage/pool.js";
import { normalizeActor } from "./actors.js";
import { DEFAULT_DEFINITIONS_DIR, DEFAULT_GROUPS_FILE, loadDefinitions, loadGroups, type FlagDefinition, type FlagGroups } from "./definitions.js";
import { createGateStore } from "./gate-store.js";
import { evaluateGates, type CheckActors, type FlagGates } from "./gates.js";
import { listenForGateChanges, type GateListener } from "./listener.js";

function normalizeActors(given: string | CheckActors | undefined): CheckActors {
  if (given === undefined) return {};
  if (typeof given === "string") return { user: normalizeActor(given) };
  return {
    user: given.user === undefined ? undefined : normalizeActor(given.user),
    repository: given.repository === undefined ? undefined : normalizeActor(given.repository),
  };
}

/** Checking a flag that has no `config/feature_flags/<name>.yml` while `strict` is on. */
export class UndefinedFeatureFlagError extends Error {
  override name = "UndefinedFeatureFlagError";
}

/** Feature flags for the rest of the code: cached in process, refreshed on every change. */
export type FeatureFlags = {
  /**
   * Whether the flag is on for the user and the repository of a check (actor ids such as
   * `github:octocat` and `github:repo:owner/name`; see actors.ts). A lone string is a user.
   * Never throws for database trouble: it answers from the last known gates, else the default.
   */
  isEnabled(name: string, actors?: string | CheckActors): Promise<boolean>;
  readonly definitions: ReadonlyMap<string, FlagDefinition>;
  readonly groups: FlagGroups;
  close(): Promise<void>;
};

export type FeatureFlagsOptions = {
  db: Db;
  /** Where to LISTEN for changes; null relies on `fallbackTtlMs` alone. */
  databaseUrl: string | null;
  log: Logger;
  definitionsDir?: string;
  groupsFile?: string;
  /** Throw UndefinedFeatureFlagError for an undefined flag (tests) instead of logging a warning. */
  strict?: boolean;
  /** Cache lifetime while LISTEN is active (a safety net; notifications refresh it at once). */
  staleAfterMs?: number;
  /** Cache lifetime while LISTEN is down: bounds how late a change is seen. */
  fallbackTtlMs?: number;
  random?: () => number;
};

/**
 * Loads the definitions and groups (throwing FlagDefinitionError on an invalid file), starts
 * listening for gate changes and returns the evaluator. Gates are read in one query and cached;
 * a NOTIFY from the `feature_gates` trigger or a reconnect drops the cache, and while the
 * listener is down the cache lives `fallbackTtlMs` (1 s), so a change is seen within 2 s.
 */
export async function createFeatureFlags(options: FeatureFlagsOptions): Promise<FeatureFlags> {
  const log = options.log.child({ component: "feature-flags" });
  const definitions = await loadDefinitions(options.definitionsDir ?? DEFAULT_DEFINITIONS_DIR);
  const groups = await loadGroups(options.groupsFile ?? DEFAULT_GROUPS_FILE);
  const store = createGateStore(options.db);
  const staleAfterMs = options.staleAfterMs ?? 30_000;
  const fallbackTtlMs = options.fallbackTtlMs ?? 1000;
  const random = options.random ?? Math.random;
  const warned = new Set<string>();

  let snapshot: Map<string, FlagGates> | null = null;
  let loadedAt = 0;
  let generation = 0;
  let loading: Promise<Map<string, FlagGates>> | null = null;
  let listener: GateListener | null = null;

  function invalidate(): void {
    generation += 1;
    loadedAt = 0;
    loading = null;
  }

  function reload(): Promise<Map<string, FlagGates>> {
    const started = generation;
    const load = store.loadAll().then((gates) => {
      // A change announced while this query ran may not be in its result: use it once, don't cache it.
      if (started === generation) {
        snapshot = gates;
        loadedAt = Date.now();
      }
      return gates;
    });
    const settle = () => {
      if (loading === load) loading = null;
    };
    load.then(settle, settle);
    loading = load;
    return load;
  }

  async function currentGates(): Promise<Map<string, FlagGates> | null> {
    const ttl = listener?.connected ? staleAfterMs : fallbackTtlMs;
    if (snapshot && Date.now() - loadedAt < ttl) return snapshot;
    try {
      return await (loading ?? reload());
    } catch (err: unknown) {
      log.error({ err, cached: snapshot !== null }, "feature gates cannot be read; using the last known gates or the defaults");
      return snapshot;
    }
  }

  if (options.databaseUrl) {
    listener = await listenForGateChanges({
      databaseUrl: options.databaseUrl,
      log,
      onChange: invalidate,
      onConnect: invalidate,
    });
  }

  return {
    definitions,
    groups,
    async isEnabled(name, given) {
      const definition = definitions.get(name);
      if (!definition) {
        if (options.strict) throw new UndefinedFeatureFlagError(`feature flag "${name}" has no definition (config/feature_flags/${name}.yml)`);
        if (!warned.has(name)) {
          warned.add(name);
          log.warn({ flag: name }, "feature flag checked without a definition");
        }
      }
      const gates = await currentGates();
      return evaluateGates(gates?.get(name), {
        flagName: name,
        actors: normalizeActors(given),
        percentageKey: definition?.percentageOfActorsKey ?? "user",
        defaultEnabled: definition?.defaultEnabled ?? false,
        groups,
        random,
      });
    },
    async close() {
      await listener?.close();
    },
  };
}
