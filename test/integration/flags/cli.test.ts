import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { loadConfig } from "../../../src/config/index.js";
import { runFeatureCli } from "../../../src/flags/cli.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FIXTURE_DEFINITIONS, FIXTURE_GROUPS, REPO_ROOT } from "./support.js";

type Run = { code: number | null; stdout: string; stderr: string };

let database: TestDatabase;
const tmp = mkdtempSync(path.join(tmpdir(), "forgebot-cli-"));

/** `node bin/forgebot-dev.js feature …` in its own process, against this file's database. */
function feature(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ["bin/forgebot-dev.js", "feature", ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: database.url,
      FEATURE_FLAGS_DIR: FIXTURE_DEFINITIONS,
      FEATURE_GROUPS_FILE: FIXTURE_GROUPS,
      LOG_LEVEL: "silent",
      ...env,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** The same command through `runFeatureCli`, the function `forgebot feature` calls, in this process. */
async function featureInProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const config = loadConfig({
    DATABASE_URL: database.url,
    FEATURE_FLAGS_DIR: FIXTURE_DEFINITIONS,
    FEATURE_GROUPS_FILE: FIXTURE_GROUPS,
    LOG_LEVEL: "silent",
    ...env,
  });
  let stdout = "";
  let stderr = "";
  const code = await runFeatureCli(config, args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

async function gateRows(flag: string): Promise<string[]> {
  const { rows } = await database.db.query<{ gate_kind: string; value: string }>(
    "SELECT gate_kind, value FROM feature_gates WHERE flag_name = $1 ORDER BY gate_kind, value",
    [flag],
  );
  return rows.map((r) => `${r.gate_kind}=${r.value}`);
}

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
});

afterAll(async () => {
  await database.drop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("forgebot feature in its own process", () => {
  it("set (percentage, actors and a group), get, list, delete", async () => {
    // The CLI migrates a fresh database itself.
    const pct = await feature(["set", "rollout_a", "50", "--actors"]);
    expect(pct).toMatchObject({ code: 0, stderr: "" });
    expect(pct.stdout).toMatch(/^rollout_a: conditional\n\s+gates:\s+50% of actors$/m);
    expect(await gateRows("rollout_a")).toEqual(["boolean=false", "percentage_of_actors=50"]);

    const targets = await feature(["set", "rollout_a", "true", "--actor", "github:Alice,gitlab:42", "--group", "staff"]);
    expect(targets.code).toBe(0);
    expect(targets.stdout).toContain("gates:            actors github:alice, gitlab:42; groups staff; 50% of actors");
    expect(await gateRows("rollout_a")).toEqual(["actors=github:alice", "actors=gitlab:42", "boolean=false", "groups=staff", "percentage_of_actors=50"]);

    const [get, list] = await Promise.all([feature(["get", "rollout_a"]), feature(["list"])]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain("rollout_a: conditional");
    expect(get.stdout).toContain("default_enabled:  false (not applied: gates are stored)");
    expect(get.stdout).toContain("rollout issue:    https://github.com/forgebot/forgebot/issues/6");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^default_on\s+ops\s+on\s+no gates stored: follows default_enabled \(true\)$/m);
    expect(list.stdout).toMatch(/^rollout_a\s+development\s+conditional\s+actors github:alice, gitlab:42; groups staff; 50% of actors$/m);

    const deleted = await feature(["delete", "rollout_a"]);
    expect(deleted).toMatchObject({ code: 0, stdout: "rollout_a: removed 5 gates; follows default_enabled (false)\n" });
    expect(await gateRows("rollout_a")).toEqual([]);
  });

  it("bad input: exit code 2 with the reason on stderr (parsing, a flag unknown to the database, no percentage mode)", async () => {
    const [none, unknown, pct] = await Promise.all([
      feature([]),
      feature(["get", "no_such_flag"]),
      feature(["set", "rollout_b", "50"]),
    ]);
    expect(none).toMatchObject({ code: 2, stdout: "" });
    expect(none.stderr).toMatch(/^forgebot feature: missing command: list, get, set or delete\n\nUsage: forgebot feature/);
    expect(unknown).toEqual({ code: 2, stdout: "", stderr: 'forgebot feature: unknown feature flag "no_such_flag": no definition and nothing stored\n' });
    expect(pct).toMatchObject({ code: 2, stdout: "" });
    expect(pct.stderr).toMatch(/^forgebot feature: a percentage needs --actors \(50 % of actors, stable per actor\) or --random/);
    expect(await gateRows("rollout_b")).toEqual([]);
  });

  it("an unreachable database: a clear error and exit code 1", async () => {
    const down = await feature(["list"], { DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^forgebot feature: database error: .*ECONNREFUSED/);
  });
});

describe("forgebot feature, every command and every bad input (runFeatureCli)", () => {
  it("set false for actors and groups, --random, fully on, fully off, help", async () => {
    await featureInProcess(["set", "rollout_a", "true", "--actor", "github:alice", "--actor", "github:bob", "--group", "staff"]);
    const removed = await featureInProcess(["set", "rollout_a", "false", "--actor", "github:alice", "--group", "staff"]);
    expect(removed.code).toBe(0);
    expect(await gateRows("rollout_a")).toEqual(["actors=github:bob", "boolean=false"]);

    const random = await featureInProcess(["set", "rollout_b", "12.5", "--random"]);
    expect(random.stdout).toMatch(/^rollout_b: conditional\n\s+gates:\s+12\.5% of time$/m);
    expect(await gateRows("rollout_b")).toEqual(["boolean=false", "percentage_of_time=12.5"]);

    const on = await featureInProcess(["set", "rollout_a", "true"]);
    expect(on.stdout).toMatch(/^rollout_a: on\n\s+gates:\s+fully on$/m);
    expect(await gateRows("rollout_a")).toEqual(["boolean=true"]);
    const off = await featureInProcess(["set", "default_on", "false"]);
    expect(off.stdout).toMatch(/^default_on: off\n\s+gates:\s+fully off$/m);

    const list = await featureInProcess(["list"]);
    expect(list.stdout).toMatch(/^default_on\s+ops\s+off\s+fully off$/m);
    expect(list.stdout).toMatch(/^rollout_b\s+development\s+conditional\s+12\.5% of time$/m);
    expect(await featureInProcess(["delete", "default_on"])).toMatchObject({ code: 0, stdout: "default_on: removed 1 gate; follows default_enabled (true)\n" });

    const help = await featureInProcess(["help"]);
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toContain("set NAME PCT --actors");
  });

  it("every kind of bad input: a one-line reason on stderr, exit code 2, nothing written", async () => {
    const broken = path.join(tmp, "broken");
    mkdirSync(broken);
    writeFileSync(path.join(broken, "rollout_a.yml"), "name: rollout_a\ntype: experiment\n");
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [[], /^forgebot feature: missing command: list, get, set or delete\n\nUsage: forgebot feature/],
      [["frob"], /unknown command "frob": expected list, get, set or delete/],
      [["list", "--frob"], /Unknown option '--frob'/],
      [["list", "extra"], /unexpected argument "extra"/],
      [["list", "--actors"], /list takes no options/],
      [["get"], /get needs a flag NAME/],
      [["get", "NotAFlag!"], /invalid flag name "NotAFlag!"/],
      [["get", "no_such_flag"], /unknown feature flag "no_such_flag": no definition and nothing stored/],
      [["delete", "no_such_flag"], /unknown feature flag "no_such_flag": no definition and nothing stored/],
      [["set", "rollout_a"], /set needs a value: true, false or a percentage/],
      [["set", "rollout_a", "maybe"], /invalid value "maybe": expected true, false or a percentage from 0 to 100/],
      [["set", "rollout_a", "50"], /a percentage needs --actors \(50 % of actors, stable per actor\) or --random/],
      [["set", "rollout_a", "50", "--actors", "--random"], /choose one of --actors and --random/],
      [["set", "rollout_a", "150", "--actors"], /invalid percentage 150: expected a number from 0 to 100/],
      [["set", "rollout_a", "50.0001", "--actors"], /at most three decimals/],
      [["set", "rollout_a", "50", "--actors", "--group", "staff"], /a percentage cannot be combined with --actor or --group/],
      [["set", "rollout_a", "true", "--random"], /--actors and --random go with a percentage, not with true or false/],
      [["set", "rollout_a", "true", "--actor", "octocat"], /invalid actor "octocat": expected <forge>:<id>/],
      [["set", "rollout_a", "true", "--actor"], /argument missing/],
      [["set", "rollout_a", "true", "--group", "nobody"], /unknown group "nobody" \(groups: beta_testers, staff\)/],
      [["set", "no_such_flag", "true"], /unknown feature flag "no_such_flag": add .*no_such_flag\.yml first/],
      [["list"], /rollout_a\.yml: type: expects development, ops or beta/, { FEATURE_FLAGS_DIR: broken }],
    ];
    const before = await database.db.query("SELECT flag_name, gate_kind, value FROM feature_gates ORDER BY 1, 2, 3");
    for (const [args, message, env] of cases) {
      const run = await featureInProcess(args, env);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: "" });
      expect(run.stderr).toMatch(message);
      expect(run.stderr.startsWith("forgebot feature: ")).toBe(true);
    }
    const after = await database.db.query("SELECT flag_name, gate_kind, value FROM feature_gates ORDER BY 1, 2, 3");
    expect(after.rows).toEqual(before.rows);
  });
});
