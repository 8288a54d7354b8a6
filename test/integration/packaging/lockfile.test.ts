import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ROOT } from "../../helpers/processes.js";

/**
 * README's first command on a fresh clone: `npm install` must leave package-lock.json (and the
 * rest of the tree) as committed, and `npm ci` must still accept the lock. Clones the committed
 * HEAD of this checkout; dependencies come from the npm cache when it has them.
 */
let clone: string;
let lockBefore: string;
let install: SpawnSyncReturns<string>;

function run(command: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd: clone, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
}

beforeAll(() => {
  clone = mkdtempSync(path.join(tmpdir(), "forgebot-clone-"));
  const cloned = spawnSync("git", ["clone", "--quiet", ROOT, clone], { encoding: "utf8" });
  expect(cloned.stderr).toBe("");
  lockBefore = readFileSync(path.join(clone, "package-lock.json"), "utf8");
  install = run("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]);
}, 180_000);

afterAll(() => {
  rmSync(clone, { recursive: true, force: true });
});

describe("a fresh clone", () => {
  it("npm install succeeds and leaves git status clean", () => {
    expect({ status: install.status, stderr: install.status === 0 ? "" : install.stderr }).toEqual({ status: 0, stderr: "" });
    expect(run("git", ["status", "--porcelain"]).stdout).toBe("");
    expect(readFileSync(path.join(clone, "package-lock.json"), "utf8")).toBe(lockBefore);
  });

  it("npm ci accepts the lock, and would refuse one out of sync with package.json", () => {
    const ci = () => run("npm", ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]);
    const errors = (r: SpawnSyncReturns<string>) => r.stderr.split("\n").filter((l) => l.startsWith("npm error")).join("\n");
    const accepted = ci();
    expect({ status: accepted.status, errors: errors(accepted) }).toEqual({ status: 0, errors: "" });

    const manifest = path.join(clone, "package.json");
    const original = readFileSync(manifest, "utf8");
    const changed = JSON.parse(original) as { dependencies: Record<string, string> };
    changed.dependencies["left-pad"] = "^1.3.0";
    writeFileSync(manifest, JSON.stringify(changed, null, 2));
    try {
      const refused = ci();
      expect(refused.status).not.toBe(0);
      expect(errors(refused)).toContain("in sync");
    } finally {
      writeFileSync(manifest, original);
    }
  });
});
