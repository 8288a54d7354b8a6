import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../../src/storage/embedded.js";
import { FIXTURE_DEFINITIONS, FIXTURE_GROUPS, REPO_ROOT } from "./support.js";

const dataDir = mkdtempSync(path.join(tmpdir(), "forgebot-embedded-"));
let embedded: EmbeddedDatabase | null = null;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}

function feature(args: string[], port: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["bin/forgebot-dev.js", "feature", ...args], {
    cwd: REPO_ROOT,
    // No DATABASE_URL: the embedded database under DATA_DIR.
    env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), FEATURE_FLAGS_DIR: FIXTURE_DEFINITIONS, FEATURE_GROUPS_FILE: FIXTURE_GROUPS, LOG_LEVEL: "silent" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

afterAll(async () => {
  await embedded?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("forgebot feature without DATABASE_URL", () => {
  it("starts the embedded database for the command, or uses the one `forgebot start` runs", async () => {
    const port = await freePort();
    const set = await feature(["set", "rollout_a", "true", "--actor", "github:alice"], port);
    expect(set.code).toBe(0);
    expect(set.stderr).toContain(`DATABASE_URL is unset; starting the embedded database (${dataDir}) for this command`);
    expect(set.stdout).toContain("gates:            actors github:alice");

    // forgebot start's embedded Postgres on the same data directory: the CLI connects to it.
    embedded = await startEmbeddedPostgres(dataDir, port);
    const get = await feature(["get", "rollout_a"], port);
    expect(get.code).toBe(0);
    expect(get.stderr).toContain("DATABASE_URL is unset; using the running embedded database");
    expect(get.stdout).toContain("gates:            actors github:alice");
  });
});
