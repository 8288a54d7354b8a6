import { afterAll, describe, expect, it } from "@jest/globals";
import { createChangeTools } from "../../../src/agent/change-tools.js";
import { createSandbox } from "../../../src/workspace/sandbox.js";
import { log, openTestWorkspace, scratchDir } from "./support.js";

/**
 * A worker whose bubblewrap is missing (or fails): the self-test says why, commands are not
 * run — never run unsandboxed instead — and the change agent is not offered `run`.
 */
const scratch = scratchDir();
afterAll(() => scratch.remove());

describe("a sandbox that fails its self-test", () => {
  it("is unavailable with the reason; run answers 'unavailable' and executes nothing", async () => {
    const broken = await createSandbox({ mode: "bwrap", commandTimeoutMs: 2000, hidden: [], bwrap: "/nonexistent/bwrap", probeDir: scratch.dir }, log);
    expect(broken.status.available).toBe(false);
    expect(broken.status.available === false && broken.status.reason).toMatch(/^the sandbox \(bubblewrap\) does not work on this worker: .*\/nonexistent\/bwrap/);
    const { workspace } = await openTestWorkspace({ entries: [{ type: "File", path: "a.txt", content: "a\n" }], dir: scratch.dir, sandbox: broken });
    const result = await broken.run({ tree: workspace.tree, command: "touch ran-anyway" });
    expect(result.outcome).toBe("unavailable");
    expect(result.output).toContain("does not work on this worker");
    const { existsSync } = await import("node:fs");
    expect(existsSync(`${workspace.tree}/ran-anyway`)).toBe(false);
  });

  it("the change agent's tools leave out run", () => {
    const context = { workspace: () => Promise.reject(new Error("unused")), signal: new AbortController().signal, heartbeat: async () => undefined, recordCommand: async () => async () => undefined };
    expect(Object.keys(createChangeTools({ ...context, commandsUnavailable: "bubblewrap is missing" }))).not.toContain("run");
    expect(Object.keys(createChangeTools({ ...context, commandsUnavailable: null }))).toContain("run");
  });
});
