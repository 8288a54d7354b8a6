import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { createSandbox, sandboxUserFor, type Sandbox } from "../../../src/workspace/sandbox.js";
import { log, scratchDir } from "./support.js";

/**
 * Commands from a hostile repository, run under bubblewrap: no network, no writes outside the
 * workspace, none of the worker's environment or files, and limits on processes, output and
 * time that contain the command while the worker goes on serving other sessions.
 */
const scratch = scratchDir();
let sandbox: Sandbox;
let listener: Server;
let port = 0;
/** A secret "file of the worker" under a directory the sandbox mounts (/opt), hidden by a mask. */
const KEY_DIR = "/opt/forgebot-sandbox-test";
const KEY_FILE = path.join(KEY_DIR, "private-key.pem");
let sessionId = 700_000 + (process.pid % 1000);

function workspace(): { tree: string; user: ReturnType<typeof sandboxUserFor> } {
  const tree = mkdtempSync(path.join(scratch.dir, "tree-"));
  const user = sandboxUserFor(++sessionId);
  if (user) chownSync(tree, user.uid, user.gid);
  return { tree, user };
}

function run(command: string, options: { timeoutMs?: number; with?: Sandbox } = {}) {
  const ws = workspace();
  return (options.with ?? sandbox).run({ ...ws, command, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) }).then((r) => ({ ...r, tree: ws.tree }));
}

beforeAll(async () => {
  process.env.FORGEBOT_SANDBOX_TEST_SECRET = "s3cr3t-in-the-worker-env";
  mkdirSync(KEY_DIR, { recursive: true });
  writeFileSync(KEY_FILE, "-----BEGIN PRIVATE KEY-----\nnot-for-the-sandbox\n");
  listener = createServer((socket) => socket.end("hello from the host\n"));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  port = (listener.address() as { port: number }).port;
  sandbox = await createSandbox({ mode: "bwrap", commandTimeoutMs: 4000, hidden: [KEY_DIR, path.join(process.cwd(), ".data")] }, log);
});

afterAll(async () => {
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  rmSync(KEY_DIR, { recursive: true, force: true });
  scratch.remove();
});

describe("the sandbox", () => {
  it("passes its self-test here (bubblewrap installed)", () => {
    expect(sandbox.status).toEqual({ available: true, mode: "bwrap" });
  });

  it("has no network: a socket to 127.0.0.1:5432 (or to a host listener) fails, and names do not resolve", async () => {
    const postgres = await run("exec 3<>/dev/tcp/127.0.0.1/5432 && echo CONNECTED", {});
    expect(postgres.outcome).toBe("exit_nonzero");
    expect(postgres.output).not.toContain("CONNECTED");
    // The same command reaches a listener when run outside the sandbox: the check can fail.
    const host = await run(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3'`);
    expect(host.output).not.toContain("hello from the host");
    expect(host.output).toMatch(/Connection refused|Network is unreachable/);
    const dns = await run("getent hosts registry.npmjs.org || echo UNRESOLVED");
    expect(dns.output.trim()).toBe("UNRESOLVED");
  });

  it("can write only in the workspace and its private /tmp", async () => {
    const r = await run("echo inside > mine.txt; echo tmp > /tmp/t && cat /tmp/t; touch /usr/forgebot-escape; touch /etc/forgebot-escape; touch /forgebot-escape; echo x > ../escape; true");
    expect(readFileSync(path.join(r.tree, "mine.txt"), "utf8")).toBe("inside\n");
    expect(r.output).toContain("tmp");
    for (const p of ["/usr/forgebot-escape", "/etc/forgebot-escape", "/forgebot-escape", "../escape"]) expect(r.output).toMatch(new RegExp(`${p.replace(/[./]/g, "\\$&")}.*Read-only file system`));
    for (const p of ["/usr/forgebot-escape", "/etc/forgebot-escape", "/forgebot-escape", path.join(path.dirname(r.tree), "escape")]) expect(existsSync(p)).toBe(false);
  });

  it("does not show the worker's environment or files: /proc/1/environ, the private key, .data/", async () => {
    const r = await run(`cat /proc/1/environ | tr '\\0' '\\n'; echo ---; env; echo ---; cat ${KEY_FILE}; ls ${process.cwd()}/.data; cat /etc/shadow; ls /root`);
    expect(r.output).not.toContain("s3cr3t-in-the-worker-env");
    expect(r.output).not.toContain("not-for-the-sandbox");
    expect(r.output).not.toContain("DATABASE_URL");
    expect(r.output).toContain(`cat: ${KEY_FILE}: No such file or directory`);
    expect(r.output).toContain("cat: /etc/shadow: No such file or directory");
    expect(r.output).toContain(`ls: cannot access '${process.cwd()}/.data': No such file or directory`);
    expect(r.output.split("---")[1]!.trim().split("\n").map((l) => l.split("=")[0]).sort()).toEqual(["HOME", "LANG", "PATH", "PWD"]);
    // Without the mask the key would show through /opt: the check can fail.
    const unmasked = await createSandbox({ mode: "bwrap", commandTimeoutMs: 4000, hidden: [] }, log, { selfTest: false });
    expect((await run(`cat ${KEY_FILE}`, { with: unmasked })).output).toContain("not-for-the-sandbox");
  });

  it("a fork bomb hits the process limit and is ended; the worker runs the next command at once", async () => {
    const bomb = run("sleep 60 & bomb() { bomb | bomb & }; bomb; wait", { timeoutMs: 3000 });
    // Another session's command runs meanwhile.
    const other = await run("echo still-serving");
    expect(other).toMatchObject({ outcome: "exit_zero", output: "still-serving\n" });
    const result = await bomb;
    expect(result.outcome).toBe("timeout");
    expect(result.output).toMatch(/fork|Resource temporarily unavailable|Cannot fork/i);
    expect(result.durationMs).toBeLessThan(8000);
    expect((await run("echo after")).output).toBe("after\n");
  });

  it("a command printing 100 MB is cut: head and tail kept, the cut said", async () => {
    const r = await run("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo THE-END");
    expect(r.outcome).toBe("exit_zero");
    expect(r.outputBytes).toBe(100_000_009);
    expect(r.truncated).toBe(true);
    expect(r.output.length).toBeLessThan(70_000);
    expect(r.output).toMatch(/\[output cut: \d+ of 100000009 bytes left out between the first 32768 and the last 32768\]/);
    expect(r.output.trimEnd().endsWith("THE-END")).toBe(true);
  });

  it("a command ignoring SIGTERM is killed at the timeout, with everything it started", async () => {
    const started = Date.now();
    const r = await run("trap '' TERM; (trap '' TERM; sleep 300) & sleep 300", { timeoutMs: 1500 });
    expect(r.outcome).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(6000);
    const { execFileSync } = await import("node:child_process");
    const left = execFileSync("sh", ["-c", "ps -eo args | grep -c '^sleep 300$' || true"]).toString().trim();
    expect(left).toBe("0");
  });
});
