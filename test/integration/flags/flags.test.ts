import { createLogger } from "../../../src/logging/logger.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createFeatureFlags, UndefinedFeatureFlagError, type FeatureFlags, type FeatureFlagsOptions } from "../../../src/flags/flags.js";
import { createGateStore, type GateStore } from "../../../src/flags/gate-store.js";
import { inActorPercentage } from "../../../src/flags/gates.js";
import { createPool } from "../../../src/storage/pool.js";
import { waitFor } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { ACTORS, FIXTURE_DEFINITIONS, FIXTURE_GROUPS, recordingLogger } from "./support.js";

let database: TestDatabase;
let store: GateStore;
const opened: FeatureFlags[] = [];

async function open(options: Partial<FeatureFlagsOptions> = {}): Promise<FeatureFlags> {
  const flags = await createFeatureFlags({
    db: database.db,
    databaseUrl: database.url,
    log: recordingLogger(),
    definitionsDir: FIXTURE_DEFINITIONS,
    groupsFile: FIXTURE_GROUPS,
    strict: true,
    ...options,
  });
  opened.push(flags);
  return flags;
}

/** Waits until `flags` sees `expected`; returns how long that took after the write committed. */
async function seen(flags: FeatureFlags, name: string, actor: string | undefined, expected: boolean, since: number, timeoutMs = 2000): Promise<number> {
  await waitFor(`${name} = ${expected}`, async () => (await flags.isEnabled(name, actor)) === expected, timeoutMs);
  return Date.now() - since;
}

beforeAll(async () => {
  database = await createTestDatabase();
  store = createGateStore(database.db);
});

afterAll(async () => {
  await Promise.all(opened.map((f) => f.close()));
  await database.drop();
});

beforeEach(async () => {
  await database.db.query("DELETE FROM feature_gates");
});

describe("every gate kind on Postgres", () => {
  let flags: FeatureFlags;
  beforeAll(async () => {
    // No cache between checks: each assertion reads what the store just wrote.
    flags = await open({ databaseUrl: null, fallbackTtlMs: 0, random: () => 0.2 });
  });

  it("no stored gates: the definition's default", async () => {
    expect(await flags.isEnabled("default_on", "github:alice")).toBe(true);
    expect(await flags.isEnabled("default_on")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "github:alice")).toBe(false);
  });

  it("boolean: fully on and fully off, overriding the default", async () => {
    await store.setBoolean("rollout_a", true);
    await store.setBoolean("default_on", false);
    expect(await flags.isEnabled("rollout_a")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "github:anyone")).toBe(true);
    expect(await flags.isEnabled("default_on")).toBe(false);
    expect(await flags.isEnabled("default_on", "github:anyone")).toBe(false);
  });

  it("actors: on for the listed actors only; removing one keeps the flag stored (no fall back to the default)", async () => {
    await store.addValues("default_on", "actors", ["github:alice", "gitlab:42"]);
    expect(await flags.isEnabled("default_on", "github:alice")).toBe(true);
    expect(await flags.isEnabled("default_on", "GitHub:Alice")).toBe(true);
    expect(await flags.isEnabled("default_on", "gitlab:42")).toBe(true);
    expect(await flags.isEnabled("default_on", "github:bob")).toBe(false);
    expect(await flags.isEnabled("default_on")).toBe(false);
    await store.removeValues("default_on", "actors", ["github:alice", "gitlab:42"]);
    expect(await flags.isEnabled("default_on", "github:alice")).toBe(false);
    expect(await store.find("default_on")).toMatchObject({ boolean: false, actors: new Set() });
  });

  it("groups: on for members of the listed groups (users and repositories)", async () => {
    await store.addValues("rollout_a", "groups", ["beta_testers"]);
    expect(await flags.isEnabled("rollout_a", "github:bob")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "github:repo:acme/widgets")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "github:alice")).toBe(false);
    await store.addValues("rollout_a", "groups", ["staff"]);
    expect(await flags.isEnabled("rollout_a", "github:alice")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "gitlab:7")).toBe(true);
  });

  it("percentage of actors: 50 % of 10 000 actors within 2 points, the same actors as the pure function", async () => {
    await store.setPercentage("rollout_a", "percentage_of_actors", 50);
    const enabled: string[] = [];
    for (const actor of ACTORS) if (await flags.isEnabled("rollout_a", actor)) enabled.push(actor);
    expect(Math.abs(enabled.length / ACTORS.length - 0.5)).toBeLessThanOrEqual(0.02);
    expect(enabled).toEqual(ACTORS.filter((a) => inActorPercentage("rollout_a", a, 50)));
    expect(await flags.isEnabled("rollout_a")).toBe(false);
    await store.setPercentage("rollout_a", "percentage_of_actors", 0);
    expect(await store.find("rollout_a")).toMatchObject({ percentageOfActors: null });
    expect(await flags.isEnabled("rollout_a", enabled[0])).toBe(false);
  });

  it("percentage of time: a draw below the percentage opens it, with or without an actor", async () => {
    await store.setPercentage("rollout_a", "percentage_of_time", 30);
    expect(await flags.isEnabled("rollout_a")).toBe(true); // draw 0.2 < 0.30
    const unlucky = await open({ databaseUrl: null, fallbackTtlMs: 0, random: () => 0.3 });
    expect(await unlucky.isEnabled("rollout_a", "github:alice")).toBe(false);
    const real = await open({ databaseUrl: null, fallbackTtlMs: 60_000 });
    let on = 0;
    for (let i = 0; i < 5000; i++) if (await real.isEnabled("rollout_a")) on += 1;
    expect(Math.abs(on / 5000 - 0.3)).toBeLessThanOrEqual(0.03);
  });

  it("combined: on when any gate is open; boolean true replaces the other gates; delete returns to the default", async () => {
    const neverDraws = await open({ databaseUrl: null, fallbackTtlMs: 0, random: () => 0.99 });
    const luckyDraw = await open({ databaseUrl: null, fallbackTtlMs: 0, random: () => 0.01 });
    const inQuarter = ACTORS.find((a) => inActorPercentage("default_on", a, 25))!;
    const outside = ACTORS.find((a) => !inActorPercentage("default_on", a, 25))!;
    await store.addValues("default_on", "actors", ["github:carol"]);
    await store.addValues("default_on", "groups", ["staff"]);
    await store.setPercentage("default_on", "percentage_of_actors", 25);
    await store.setPercentage("default_on", "percentage_of_time", 5);
    expect(await neverDraws.isEnabled("default_on", "github:carol")).toBe(true); // actor gate alone open
    expect(await neverDraws.isEnabled("default_on", "gitlab:7")).toBe(true); // group gate alone open
    expect(await neverDraws.isEnabled("default_on", inQuarter)).toBe(true); // percentage of actors alone open
    expect(await neverDraws.isEnabled("default_on", outside)).toBe(false); // every gate closed
    expect(await neverDraws.isEnabled("default_on")).toBe(false);
    expect(await luckyDraw.isEnabled("default_on", outside)).toBe(true); // percentage of time alone open

    await store.setBoolean("default_on", true);
    expect(await store.find("default_on")).toEqual({ boolean: true, actors: new Set(), groups: new Set(), percentageOfActors: null, percentageOfTime: null });
    expect(await neverDraws.isEnabled("default_on", outside)).toBe(true);
    await store.setBoolean("default_on", false);
    expect(await neverDraws.isEnabled("default_on", "github:carol")).toBe(false);

    expect(await store.deleteFlag("default_on")).toBe(1);
    expect(await store.find("default_on")).toBeNull();
    expect(await neverDraws.isEnabled("default_on", outside)).toBe(true);
  });
});

describe("undefined flags", () => {
  it("strict (tests): checking a flag without a definition throws", async () => {
    const flags = await open({ databaseUrl: null });
    await expect(flags.isEnabled("no_such_flag", "github:alice")).rejects.toThrow(UndefinedFeatureFlagError);
    await expect(flags.isEnabled("no_such_flag")).rejects.toThrow(/config\/feature_flags\/no_such_flag\.yml/);
  });

  it("production: a logged warning (once per flag), and the stored gates decide", async () => {
    const log = recordingLogger();
    const flags = await open({ databaseUrl: null, fallbackTtlMs: 0, strict: false, log });
    expect(await flags.isEnabled("no_such_flag", "github:alice")).toBe(false);
    expect(await flags.isEnabled("no_such_flag", "github:alice")).toBe(false);
    await store.addValues("no_such_flag", "actors", ["github:alice"]);
    expect(await flags.isEnabled("no_such_flag", "github:alice")).toBe(true);
    const warnings = log.entries.filter((e) => e.level === "warn");
    expect(warnings).toEqual([{ level: "warn", meta: { component: "feature-flags", flag: "no_such_flag" }, message: "feature flag checked without a definition" }]);
  });
});

describe("propagation inside a process", () => {
  it("a cached evaluation is refreshed by NOTIFY alone (cache TTLs set to a minute)", async () => {
    const flags = await open({ staleAfterMs: 60_000, fallbackTtlMs: 60_000 });
    expect(await flags.isEnabled("rollout_a", "github:alice")).toBe(false); // cached now
    const start = Date.now();
    await store.addValues("rollout_a", "actors", ["github:alice"]);
    const ms = await seen(flags, "rollout_a", "github:alice", true, start);
    expect(ms).toBeLessThan(2000);
  });

  it("the listener reconnects after its connection is killed, and changes made meanwhile are seen", async () => {
    const log = recordingLogger();
    const flags = await open({ staleAfterMs: 60_000, fallbackTtlMs: 60_000, log });
    expect(await flags.isEnabled("rollout_b")).toBe(false);
    const killed = await database.db.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'forgebot-flags' AND datname = current_database()",
    );
    expect(killed.rowCount).toBeGreaterThanOrEqual(1);
    await store.setBoolean("rollout_b", true);
    const start = Date.now();
    await seen(flags, "rollout_b", undefined, true, start, 5000);
    expect(log.entries.some((e) => e.message === "feature flag listener disconnected; reconnecting")).toBe(true);
    // The new connection carries notifications again.
    const again = Date.now();
    await store.setBoolean("rollout_b", false);
    expect(await seen(flags, "rollout_b", undefined, false, again)).toBeLessThan(2000);
  });

  it("without a listener the cache lives 1 s, so a change is still seen within 2 s", async () => {
    const flags = await open({ databaseUrl: null });
    expect(await flags.isEnabled("rollout_a", "github:dave")).toBe(false);
    const start = Date.now();
    await store.addValues("rollout_a", "actors", ["github:dave"]);
    expect(await seen(flags, "rollout_a", "github:dave", true, start)).toBeLessThan(2000);
  });

  it("an unreachable database: answers from the defaults and logs an error", async () => {
    const dead = createPool("postgres://postgres@127.0.0.1:1/none", { max: 1, log: createLogger("silent") });
    const log = recordingLogger();
    const flags = await open({ db: dead, databaseUrl: null, log });
    expect(await flags.isEnabled("default_on", "github:alice")).toBe(true);
    expect(await flags.isEnabled("rollout_a", "github:alice")).toBe(false);
    expect(log.entries.some((e) => e.level === "error" && e.message.startsWith("feature gates cannot be read"))).toBe(true);
    await dead.end();
  });
});
