import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createFeatureFlags, type FeatureFlags } from "../../../src/flags/flags.js";
import { createGateStore, type GateStore } from "../../../src/flags/gate-store.js";
import { waitFor } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { ACTORS, FIXTURE_DEFINITIONS, FIXTURE_GROUPS, recordingLogger, REPO_ROOT } from "./support.js";

const PROBE = path.join(REPO_ROOT, "test/integration/flags/probe.ts");

let database: TestDatabase;
let store: GateStore;
let flags: FeatureFlags;
const children: ChildProcessWithoutNullStreams[] = [];

function startProbe(args: string[]): { child: ChildProcessWithoutNullStreams; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", PROBE, args[0]!, database.url, ...args.slice(1)], { cwd: REPO_ROOT });
  children.push(child);
  const lines: string[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      if (code) lines.push(`exit ${code}: ${stderr}`);
      resolve(code);
    }),
  );
  return { child, lines, exited };
}

async function probeActors(flag: string): Promise<string[]> {
  const probe = startProbe(["actors", flag]);
  expect(await probe.exited).toBe(0);
  return JSON.parse(probe.lines[0]!) as string[];
}

beforeAll(async () => {
  database = await createTestDatabase();
  store = createGateStore(database.db);
  flags = await createFeatureFlags({
    db: database.db,
    databaseUrl: database.url,
    log: recordingLogger(),
    definitionsDir: FIXTURE_DEFINITIONS,
    groupsFile: FIXTURE_GROUPS,
    strict: true,
  });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill();
  await flags.close();
  await database.drop();
});

describe("across processes", () => {
  it("50 % of actors: the same actors in another process; two flags pick different sets", async () => {
    await store.setPercentage("rollout_a", "percentage_of_actors", 50);
    await store.setPercentage("rollout_b", "percentage_of_actors", 50);
    const [childA, childB] = await Promise.all([probeActors("rollout_a"), probeActors("rollout_b")]);
    const here: string[] = [];
    for (const actor of ACTORS) if (await flags.isEnabled("rollout_a", actor)) here.push(actor);

    expect(childA).toEqual(here);
    expect(Math.abs(childA.length / ACTORS.length - 0.5)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(childB.length / ACTORS.length - 0.5)).toBeLessThanOrEqual(0.02);
    const inA = new Set(childA);
    const shared = childB.filter((a) => inA.has(a)).length;
    expect(childB).not.toEqual(childA);
    expect(Math.abs(shared / ACTORS.length - 0.25)).toBeLessThanOrEqual(0.02);
  });

  it("a flip in this process is seen by a second process within 2 s, every time", async () => {
    const probe = startProbe(["watch", "default_on", "github:erin"]);
    const states = () => probe.lines.map((l) => JSON.parse(l) as { enabled: boolean; at: number });
    await waitFor("probe start", () => states().length === 1);
    expect(states()[0]!.enabled).toBe(true);

    const latencies: number[] = [];
    for (const enabled of [false, true, false, true]) {
      const before = states().length;
      const start = Date.now(); // taken before the write: the measured delay can only be longer than the real one
      await store.setBoolean("default_on", enabled);
      const change = await waitFor(`probe sees ${enabled}`, () => states()[before], 5000);
      expect(change.enabled).toBe(enabled);
      latencies.push(change.at - start);
    }
    expect(Math.max(...latencies)).toBeLessThan(2000);

    // A third process, the CLI, turns it off for everyone.
    const before = states().length;
    const cli = spawn(process.execPath, ["bin/forgebot-dev.js", "feature", "set", "default_on", "false"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: database.url, FEATURE_FLAGS_DIR: FIXTURE_DEFINITIONS, FEATURE_GROUPS_FILE: FIXTURE_GROUPS, LOG_LEVEL: "silent" },
    });
    expect(await new Promise<number | null>((resolve) => cli.on("exit", resolve))).toBe(0);
    const afterCli = await waitFor("probe sees the CLI's change", () => states()[before], 5000);
    expect(afterCli.enabled).toBe(false);
    probe.child.stdin.end();
    expect(await probe.exited).toBe(0);
  });
});
