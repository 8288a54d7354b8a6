import { spawn } from "node:child_process";
import { freePort, ROOT, spawnForgebot, stopProcess, type BotProcess } from "../test/helpers/processes.js";
import { sleep } from "./support.js";

/** A process serving HTTP on a loopback port the bench chose. */
export type Serving = { name: string; proc: BotProcess; port: number; baseUrl: string };

/** Runs a TypeScript file of bench/ as its own Node process (through tsx), like spawnForgebot. */
export function spawnScript(file: string, env: Record<string, string>): BotProcess {
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * Polls `path` until it answers `ok` (any HTTP answer when not given); fails fast when the
 * process exits, and after `timeoutMs`, with the end of its output.
 */
export async function waitServing(s: Serving, path: string, timeoutMs: number, ok: (status: number) => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.proc.child.exitCode !== null || s.proc.child.signalCode !== null) {
      throw new Error(`${s.name} exited (${s.proc.child.exitCode ?? s.proc.child.signalCode}) before serving: ${s.proc.output().slice(-2000)}`);
    }
    const status = await fetch(`${s.baseUrl}${path}`, { signal: AbortSignal.timeout(2000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    if (status && ok(status)) return;
    await sleep(200);
  }
  throw new Error(`${s.name} did not serve ${path} within ${(timeoutMs / 1000).toFixed(0)} s: ${s.proc.output().slice(-2000)}`);
}

/** `forgebot <role>` on a free port, started but not yet waited for (see waitServing). */
export async function launchForgebot(name: string, role: "web" | "worker" | "start", env: Record<string, string>): Promise<Serving> {
  const port = await freePort();
  return { name, proc: spawnForgebot([role], { ...env, PORT: String(port), HOST: "127.0.0.1" }), port, baseUrl: `http://127.0.0.1:${port}` };
}

/** Waits for a forgebot process's `/readyz` to answer 200; kills it when it never does. */
export async function waitReady(s: Serving, timeoutMs = 120_000): Promise<Serving> {
  try {
    await waitServing(s, "/readyz", timeoutMs, (status) => status === 200);
  } catch (err: unknown) {
    await stopProcess(s.proc, "SIGKILL");
    throw err;
  }
  return s;
}

/** `forgebot <role>` on a free port, once its `/readyz` answers 200. */
export async function spawnForgebotServing(name: string, role: "web" | "worker" | "start", env: Record<string, string>, timeoutMs = 120_000): Promise<Serving> {
  return waitReady(await launchForgebot(name, role, env), timeoutMs);
}

/** A bench server script on a free port (it reads PORT), once it answers HTTP at all. */
export async function spawnScriptServing(name: string, file: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Serving> {
  const port = await freePort();
  const s = { name, proc: spawnScript(file, { ...env, PORT: String(port) }), port, baseUrl: `http://127.0.0.1:${port}` };
  try {
    await waitServing(s, "/", timeoutMs);
  } catch (err: unknown) {
    await stopProcess(s.proc, "SIGKILL");
    throw err;
  }
  return s;
}

/** SIGTERM, then SIGKILL for whatever has not exited after `graceMs`. */
export async function stopAll(procs: BotProcess[], graceMs = 20_000): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          p.child.kill("SIGKILL");
          resolve();
        }, graceMs);
      });
      await Promise.race([stopProcess(p, "SIGTERM"), killed]);
      clearTimeout(timer);
      await p.exited;
    }),
  );
}
