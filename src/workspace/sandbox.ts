import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sandboxCommandDuration, sandboxCommands } from "../metrics/flows.js";
import type { Logger } from "../sessions/ports.js";
import { CappedOutput } from "./output.js";
import { bwrapArgs, DEFAULT_LIMITS, prlimitArgs, SANDBOX_ENV, type SandboxLimits } from "./sandbox-args.js";

/**
 * `run` for change sessions. With SANDBOX=bwrap (the default) every command runs under
 * bubblewrap (sandbox-args.ts) with resource limits from `prlimit`, a wall-clock timeout that
 * kills the whole process tree, and output kept to its head and tail. SANDBOX=off runs commands
 * directly in the workspace, with the same limits, timeout and bare environment but none of the
 * isolation: for trusted single-tenant installs, and it says so at every start.
 */

export type CommandOutcome = "exit_zero" | "exit_nonzero" | "timeout" | "limit" | "unavailable";

export type CommandResult = {
  outcome: CommandOutcome;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  /** Head and tail of stdout and stderr together, with the cut said. */
  output: string;
  outputBytes: number;
  truncated: boolean;
};

export type SandboxStatus = { available: true; mode: "bwrap" | "off" } | { available: false; mode: "bwrap"; reason: string };

/** The host user a command runs as (a root worker never runs commands as root). */
export type SandboxUser = { uid: number; gid: number };

export type RunInput = {
  /** The workspace tree on the host. */
  tree: string;
  command: string;
  user?: SandboxUser | undefined;
  /** Stop, shutdown: kills the command at once. */
  signal?: AbortSignal;
  timeoutMs?: number;
};

export interface Sandbox {
  readonly status: SandboxStatus;
  readonly commandTimeoutMs: number;
  run(input: RunInput): Promise<CommandResult>;
}

export type SandboxSettings = {
  mode: "bwrap" | "off";
  commandTimeoutMs: number;
  /** Host paths that must never be readable inside (data dir, key, workspaces root, …). */
  hidden: readonly string[];
  limits?: Partial<SandboxLimits>;
  /** Where the self-test makes its directory: WORKSPACE_DIR, so a root the sandbox's user cannot reach fails at start. */
  probeDir?: string;
  /** The bubblewrap program (tests point it at one that does not exist). */
  bwrap?: string;
  /** Bytes of output kept from the start and from the end. */
  outputHeadBytes?: number;
  outputTailBytes?: number;
};

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** The user a root worker runs a session's commands as: unprivileged, one per session slot. */
export function sandboxUserFor(sessionId: number): SandboxUser | undefined {
  if (!isRoot()) return undefined;
  const id = 200_000 + (sessionId % 50_000);
  return { uid: id, gid: id };
}

function killTree(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // The command runs in its own process group; bubblewrap's pid namespace takes every descendant with it.
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

type Spawned = { program: string; args: string[]; cwd: string };

function execute(spawned: Spawned, input: RunInput, timeoutMs: number, settings: Required<Pick<SandboxSettings, "outputHeadBytes" | "outputTailBytes">>): Promise<CommandResult> {
  const started = performance.now();
  const output = new CappedOutput(settings.outputHeadBytes, settings.outputTailBytes);
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const child = spawn(spawned.program, spawned.args, {
      cwd: spawned.cwd,
      // bwrap's own environment shows as /proc/1/environ inside: nothing of the worker's.
      env: { ...SANDBOX_ENV },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      ...(input.user ? { uid: input.user.uid, gid: input.user.gid } : {}),
    });
    const onData = (chunk: Buffer) => output.write(chunk);
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid);
    }, timeoutMs);
    const onAbort = () => killTree(child.pid);
    input.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (result: Omit<CommandResult, "durationMs" | "output" | "outputBytes" | "truncated">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      input.signal?.removeEventListener("abort", onAbort);
      // Whatever the command left running in its group goes with it.
      killTree(child.pid);
      resolve({ ...result, durationMs: Math.round(performance.now() - started), output: output.text(), outputBytes: output.totalBytes, truncated: output.truncated });
    };
    child.on("error", (err: Error) => {
      output.write(Buffer.from(`could not start the command: ${err.message}`));
      finish({ outcome: "unavailable", exitCode: null, signal: null });
    });
    child.on("close", (code, signal) => {
      if (timedOut) return finish({ outcome: "timeout", exitCode: code, signal });
      if (signal === "SIGXCPU" || signal === "SIGXFSZ") return finish({ outcome: "limit", exitCode: code, signal });
      finish({ outcome: code === 0 ? "exit_zero" : "exit_nonzero", exitCode: code, signal });
    });
  });
}

function spawnedFor(mode: "bwrap" | "off", input: RunInput, limits: SandboxLimits, settings: Pick<SandboxSettings, "hidden" | "bwrap">): Spawned {
  if (mode === "off") return { program: "prlimit", args: [...prlimitArgs(limits), "/bin/sh", "-c", input.command], cwd: input.tree };
  const args = bwrapArgs({ tree: input.tree, command: input.command, limits, hidden: settings.hidden, user: input.user });
  return { program: "prlimit", args: [...prlimitArgs(limits), settings.bwrap ?? "bwrap", ...args], cwd: "/" };
}

/**
 * Builds the sandbox and, with `selfTest`, checks it works here (a worker does at start): with
 * SANDBOX=bwrap a `true` must run under bubblewrap, else `run` is not offered and sessions say
 * why. There is no fallback to running unsandboxed.
 */
export async function createSandbox(settings: SandboxSettings, log: Logger, options: { selfTest: boolean } = { selfTest: true }): Promise<Sandbox> {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, cpuSeconds: Math.max(10, Math.ceil(settings.commandTimeoutMs / 1000) * 2), ...settings.limits };
  const output = { outputHeadBytes: settings.outputHeadBytes ?? 32 * 1024, outputTailBytes: settings.outputTailBytes ?? 32 * 1024 };
  let status: SandboxStatus = { available: true, mode: settings.mode };

  async function run(input: RunInput): Promise<CommandResult> {
    const timeoutMs = Math.min(input.timeoutMs ?? settings.commandTimeoutMs, settings.commandTimeoutMs);
    const result =
      status.available
        ? await execute(spawnedFor(settings.mode, input, limits, settings), input, timeoutMs, output)
        : { outcome: "unavailable" as const, exitCode: null, signal: null, durationMs: 0, output: status.reason, outputBytes: 0, truncated: false };
    sandboxCommands.inc({ outcome: result.outcome });
    sandboxCommandDuration.observe({ outcome: result.outcome }, result.durationMs / 1000);
    return result;
  }

  if (settings.mode === "off") {
    log.warn({ sandbox: "off" }, "SANDBOX=off: commands of change sessions run WITHOUT isolation on this worker (network, files and processes of the worker are reachable); use it only for trusted single-tenant installs");
  } else if (options.selfTest) {
    status = await selfTest(settings, limits, output, log);
  }
  return {
    get status() {
      return status;
    },
    commandTimeoutMs: settings.commandTimeoutMs,
    run,
  };
}

async function selfTest(settings: SandboxSettings, limits: SandboxLimits, output: { outputHeadBytes: number; outputTailBytes: number }, log: Logger): Promise<SandboxStatus> {
  let parent = tmpdir();
  if (settings.probeDir) {
    mkdirSync(settings.probeDir, { recursive: true, mode: 0o711 });
    chmodSync(settings.probeDir, 0o711);
    parent = settings.probeDir;
  }
  const dir = mkdtempSync(path.join(parent, ".sandbox-test-"));
  const user = isRoot() ? { uid: 65534, gid: 65534 } : undefined;
  try {
    if (user) chownSync(dir, user.uid, user.gid);
    const result = await execute(spawnedFor("bwrap", { tree: dir, command: "touch probe && test -w /workspace/probe", user }, limits, settings), { tree: dir, command: "", user }, 15_000, output);
    if (result.outcome === "exit_zero") {
      log.info({ sandbox: "bwrap", ms: result.durationMs }, "sandbox self-test passed: commands run under bubblewrap");
      return { available: true, mode: "bwrap" };
    }
    const detail = result.output.trim().split("\n").slice(-3).join(" ").slice(0, 300) || `exit ${result.exitCode ?? result.signal}`;
    const reason = `the sandbox (bubblewrap) does not work on this worker: ${detail}`;
    log.error({ sandbox: "bwrap", outcome: result.outcome, detail }, "sandbox self-test failed: change sessions will not run commands (install bubblewrap and allow user namespaces, or set SANDBOX=off for a trusted single-tenant install)");
    return { available: false, mode: "bwrap", reason };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
