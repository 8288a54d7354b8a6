import type { Logger } from "../logging/logger.js";
import { FORGE_NAMES, type ForgeName } from "../sessions/forge-port.js";
import { CredentialsUnreadableError, type CredentialStore, type StoredCredentials } from "../sessions/setup-port.js";

/** How long a process uses stored credentials before it checks their version again. */
export const STORED_CHECK_MS = 30_000;
/** How often a process asks the store again about a forge it does not have (a webhook flood must not become a query flood). */
export const MISS_CHECK_MS = 1_000;

/** Something built for one forge, from the environment (never replaced) or from stored credentials. */
export type Slotted = { origin: "env" | "setup"; version: number };

export type ForgeSlots<E extends Slotted> = {
  /** What this process has for `name` right now, without asking the store. */
  find(name: ForgeName): E | undefined;
  /**
   * What `name` is now: the environment's, or the stored one, read again from the store on a
   * miss (at most every MISS_CHECK_MS) or when older than STORED_CHECK_MS. A store that cannot
   * be read leaves what this process has.
   */
  current(name: ForgeName): Promise<E | undefined>;
  /** Reads the store now (after any read already under way, so a save just made is seen). */
  refresh(): Promise<void>;
  all(): E[];
};

export type SlotOptions<E extends Slotted> = {
  /** Forges the environment configures: fixed for the life of the process; stored ones are ignored. */
  fixed: ReadonlyMap<ForgeName, E>;
  store: CredentialStore | null;
  build(stored: StoredCredentials): E;
  log: Logger;
  now?: () => number;
};

/**
 * The forges a running process answers. The environment's are built once at start; the ones the
 * setup page stores are built when this process first sees them and rebuilt when their version
 * changes, each built whole before it replaces the previous one: a request sees one or the other,
 * never half of each. The map belongs to this object, not to a module.
 */
export function createForgeSlots<E extends Slotted>(options: SlotOptions<E>): ForgeSlots<E> {
  const { fixed, store, build, log } = options;
  const now = options.now ?? Date.now;
  const stored = new Map<ForgeName, E>();
  /** The version of each forge whose stored credentials did not open: logged once, not retried until it changes. */
  const unreadable = new Map<ForgeName, number>();
  let lastRead = Number.NEGATIVE_INFINITY;
  let reading: Promise<void> | null = null;

  async function read(target: CredentialStore): Promise<void> {
    const versions = await target.versions();
    for (const name of FORGE_NAMES) {
      if (fixed.has(name)) continue;
      const version = versions.get(name);
      if (version === undefined) {
        stored.delete(name);
        continue;
      }
      if (stored.get(name)?.version === version || unreadable.get(name) === version) continue;
      try {
        const credentials = await target.find(name);
        if (!credentials) {
          stored.delete(name);
          continue;
        }
        stored.set(name, build(credentials));
        unreadable.delete(name);
        log.info({ forge: name, version: credentials.version }, "forge configured from stored credentials");
      } catch (err: unknown) {
        if (!(err instanceof CredentialsUnreadableError)) throw err;
        unreadable.set(name, version);
        stored.delete(name);
        log.error({ err, forge: name }, "stored forge credentials cannot be used: give every process the SESSION_LINK_SECRET they were stored with, or register again on the setup page");
      }
    }
  }

  function readOnce(): Promise<void> {
    if (!store) return Promise.resolve();
    reading ??= read(store).finally(() => {
      lastRead = now();
      reading = null;
    });
    return reading;
  }

  return {
    find: (name) => fixed.get(name) ?? stored.get(name),
    async current(name) {
      const env = fixed.get(name);
      if (env || !store) return env;
      const have = stored.get(name);
      if (now() - lastRead >= (have ? STORED_CHECK_MS : MISS_CHECK_MS)) {
        try {
          await readOnce();
        } catch (err: unknown) {
          log.warn({ err, forge: name }, "could not read stored forge credentials; using what this process has");
        }
      }
      return stored.get(name);
    },
    async refresh() {
      await reading?.catch(() => undefined);
      await readOnce();
    },
    all: () => [...fixed.values(), ...stored.values()],
  };
}
