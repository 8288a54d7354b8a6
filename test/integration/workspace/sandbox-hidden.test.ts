import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createSandbox, sandboxUserFor } from "../../../src/workspace/sandbox.js";
import { log, scratchDir } from "./support.js";

/**
 * The worker's own files under a system directory the sandbox mounts (/opt), kept the way a
 * careful install keeps them: a key readable by root alone in a directory only root may enter,
 * a data directory of mode 0700. A root worker's sandbox user cannot reach them, so they need
 * no mask; asking bubblewrap for one anyway made every command fail, the self-test included,
 * and `run` was not offered at all.
 */
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const scratch = scratchDir();
const BASE = `/opt/forgebot-hidden-test-${process.pid}`;
const PRIVATE_DIR = path.join(BASE, "private");
const KEY = path.join(PRIVATE_DIR, "key.pem");
/** A data directory inside the private one (unreachable), and one beside it (reachable: masked). */
const PRIVATE_DATA = path.join(PRIVATE_DIR, "data");
const DATA_DIR = path.join(BASE, "data");
const OPEN_DIR = path.join(BASE, "open");
const OPEN_KEY = path.join(OPEN_DIR, "key.pem");

beforeAll(() => {
  mkdirSync(PRIVATE_DIR, { recursive: true });
  chmodSync(BASE, 0o755);
  chmodSync(PRIVATE_DIR, 0o700);
  writeFileSync(KEY, "-----BEGIN PRIVATE KEY-----\nprivate-dir-key\n", { mode: 0o600 });
  mkdirSync(PRIVATE_DATA, { mode: 0o700 });
  mkdirSync(DATA_DIR, { mode: 0o700 });
  writeFileSync(path.join(DATA_DIR, "secret"), "data-dir-secret\n");
  // And one a sandbox user could reach: that one is masked.
  mkdirSync(OPEN_DIR, { mode: 0o755 });
  writeFileSync(OPEN_KEY, "-----BEGIN PRIVATE KEY-----\nopen-dir-key\n", { mode: 0o644 });
});

afterAll(() => {
  rmSync(BASE, { recursive: true, force: true });
  scratch.remove();
});

describe("hidden paths the sandbox's user cannot reach", () => {
  (isRoot ? it : it.skip)("need no mask: the self-test passes, commands run, and nothing of them is readable", async () => {
    const sandbox = await createSandbox({ mode: "bwrap", commandTimeoutMs: 5000, hidden: [KEY, PRIVATE_DATA, DATA_DIR, OPEN_KEY] }, log);
    expect(sandbox.status).toEqual({ available: true, mode: "bwrap" });
    const tree = mkdtempSync(path.join(scratch.dir, "tree-"));
    const user = sandboxUserFor(4321)!;
    chownSync(tree, user.uid, user.gid);
    const r = await sandbox.run({ tree, user, command: `echo ran; cat ${KEY}; ls ${DATA_DIR}; cat ${DATA_DIR}/secret; cat ${OPEN_KEY}; true` });
    expect(r.outcome).toBe("exit_zero");
    expect(r.output).toContain("ran\n");
    expect(r.output).toContain(`cat: ${KEY}: Permission denied`);
    // What the sandbox's user could reach is masked: an empty directory, a file that cannot be read.
    expect(r.output).toContain(`cat: ${DATA_DIR}/secret: No such file or directory`);
    expect(r.output).not.toContain("open-dir-key");
    for (const secret of ["private-dir-key", "data-dir-secret"]) expect(r.output).not.toContain(secret);
  });
});
