import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "@jest/globals";

/**
 * The import rules (.dependency-cruiser.cjs) hold for src/ — `npm test` checks that before jest —
 * and each rule can fail: a small tree under test/fixtures/import-rules breaks every one of them.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CLI = path.join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
const CONFIG = path.join(ROOT, ".dependency-cruiser.cjs");

function cruise(cwd: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [CLI, "src", "--config", CONFIG, "--output-type", "err"], { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("import rules", () => {
  it("hold for src/", () => {
    const { status, output } = cruise(ROOT);
    expect(output).toContain("no dependency violations found");
    expect(status).toBe(0);
  });

  it("catch each kind of violation", () => {
    const { status, output } = cruise(path.join(ROOT, "test/fixtures/import-rules"));
    expect(status).not.toBe(0);
    expect(output).toMatch(/domain-is-pure: src\/sessions\/domain\.ts → src\/forges\/client\.ts/);
    expect(output).toMatch(/domain-and-lifecycle-use-no-framework: src\/sessions\/domain\.ts → .*node_modules\/pg\//);
    expect(output).toMatch(/lifecycle-uses-only-the-domain: src\/lifecycle\/orchestration\.ts → src\/queue\/jobs\.ts/);
    expect(output).toMatch(/storage-and-web-never-reach-a-forge: src\/storage\/store\.ts → src\/forges\/client\.ts/);
    expect(output).toMatch(/no-cycles: src\/storage\/(store|other)\.ts/);
  });
});
