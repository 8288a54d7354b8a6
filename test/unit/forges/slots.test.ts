import { describe, expect, it } from "@jest/globals";
import { createLogger } from "../../../src/logging/logger.js";
import { createForgeSlots, MISS_CHECK_MS, STORED_CHECK_MS, type Slotted } from "../../../src/forges/slots.js";
import type { ForgeName } from "../../../src/sessions/forge-port.js";
import { CredentialsUnreadableError, type CredentialStore, type ForgeCredentials, type StoredCredentials } from "../../../src/sessions/setup-port.js";

type Entry = Slotted & { name: ForgeName; label: string };

const gitlab = (username: string): ForgeCredentials => ({ forge: "gitlab", url: "https://gitlab.example.com", host: "gitlab.example.com", userId: "1", username, secrets: { token: "t", webhookSecret: "s" } });

/** An in-memory store that counts its reads and can fail or refuse to open. */
function memoryStore() {
  const rows = new Map<ForgeName, StoredCredentials>();
  const state = { versionReads: 0, finds: 0, down: false, unreadable: false };
  const store: CredentialStore = {
    async versions() {
      state.versionReads += 1;
      if (state.down) throw new Error("database away");
      return new Map([...rows].map(([k, v]) => [k, v.version]));
    },
    async find(forge) {
      state.finds += 1;
      if (state.unreadable) throw new CredentialsUnreadableError("sealed with another key");
      return rows.get(forge) ?? null;
    },
    async save(credentials, storedBy) {
      const saved = { ...credentials, version: (rows.get(credentials.forge)?.version ?? 0) + 1, storedAt: new Date(), storedBy } as StoredCredentials;
      rows.set(credentials.forge, saved);
      return saved;
    },
  };
  return { store, state, rows };
}

function slotsFor(store: CredentialStore, fixed: Map<ForgeName, Entry> = new Map(), log: string[] = []) {
  let clock = 1_000_000;
  const slots = createForgeSlots<Entry>({
    fixed,
    store,
    build: (s) => ({ origin: "setup", version: s.version, name: s.forge, label: s.forge === "gitlab" ? s.username : s.slug }),
    log: createLogger("info", { write: (line: string) => void log.push(line) }),
    now: () => clock,
  });
  return { slots, advance: (ms: number) => (clock += ms) };
}

describe("forge slots", () => {
  it("asks the store again on a miss, at most every MISS_CHECK_MS, and builds what was stored meanwhile", async () => {
    const { store, state } = memoryStore();
    const { slots, advance } = slotsFor(store);
    await slots.refresh();
    expect(await slots.current("gitlab")).toBeUndefined();
    const reads = state.versionReads;
    await store.save(gitlab("bot"), "first_run");
    expect(await slots.current("gitlab")).toBeUndefined();
    expect(state.versionReads).toBe(reads);
    advance(MISS_CHECK_MS);
    expect(await slots.current("gitlab")).toMatchObject({ label: "bot", version: 1 });
    expect(slots.find("gitlab")).toMatchObject({ label: "bot" });
  });

  it("uses what it built until STORED_CHECK_MS, then rebuilds a replaced forge and drops a removed one", async () => {
    const { store, state, rows } = memoryStore();
    await store.save(gitlab("first"), "first_run");
    const { slots, advance } = slotsFor(store);
    await slots.refresh();
    const built = slots.find("gitlab");
    await store.save(gitlab("second"), "admin_token");
    advance(STORED_CHECK_MS - 1);
    expect(await slots.current("gitlab")).toBe(built);
    advance(1);
    expect(await slots.current("gitlab")).toMatchObject({ label: "second", version: 2 });
    const finds = state.finds;
    advance(STORED_CHECK_MS);
    await slots.current("gitlab");
    expect(state.finds).toBe(finds);
    rows.clear();
    advance(STORED_CHECK_MS);
    expect(await slots.current("gitlab")).toBeUndefined();
  });

  it("never replaces a forge the environment configures", async () => {
    const { store, state } = memoryStore();
    await store.save(gitlab("stored"), "first_run");
    const env: Entry = { origin: "env", version: 0, name: "gitlab", label: "env" };
    const { slots, advance } = slotsFor(store, new Map([["gitlab", env]]));
    await slots.refresh();
    advance(STORED_CHECK_MS * 2);
    expect(await slots.current("gitlab")).toBe(env);
    expect(state.finds).toBe(0);
    expect(slots.all()).toEqual([env]);
  });

  it("keeps what it has while the store cannot be read, and logs credentials it cannot open once per version", async () => {
    const { store, state } = memoryStore();
    await store.save(gitlab("bot"), "first_run");
    const log: string[] = [];
    const { slots, advance } = slotsFor(store, new Map(), log);
    await slots.refresh();
    state.down = true;
    advance(STORED_CHECK_MS);
    expect(await slots.current("gitlab")).toMatchObject({ label: "bot" });
    expect(log.filter((l) => l.includes("could not read stored forge credentials"))).toHaveLength(1);

    state.down = false;
    state.unreadable = true;
    await store.save(gitlab("bot2"), "first_run");
    advance(STORED_CHECK_MS);
    expect(await slots.current("gitlab")).toBeUndefined();
    advance(MISS_CHECK_MS);
    expect(await slots.current("gitlab")).toBeUndefined();
    expect(log.filter((l) => l.includes("stored forge credentials cannot be used"))).toHaveLength(1);
  });

  it("refresh waits for a read already under way and reads again, so a save just made is seen", async () => {
    const { store } = memoryStore();
    const { slots } = slotsFor(store);
    // A miss starts a read, which takes the versions before the save below.
    const pending = slots.current("gitlab");
    await store.save(gitlab("late"), "first_run");
    await slots.refresh();
    expect(slots.find("gitlab")).toMatchObject({ label: "late" });
    await pending;
  });
});
