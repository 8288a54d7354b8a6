import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The development entry point (TypeScript through tsx): tests never depend on a build. */
export const DEV_BIN = path.join(ROOT, "bin/forgebot-dev.js");
/** The compiled entry point the image runs (builds dist/ first when it is stale). */
export const COMPILED_BIN = path.join(ROOT, "bin/forgebot.js");

export type BotProcess = { child: ChildProcess; output(): string; exited: Promise<number | null> };

/**
 * Runs `forgebot <command>` as a real process with exactly the environment given (plus PATH),
 * from the sources unless `options.bin` names another entry point (and `cwd` another directory).
 */
export function spawnForgebot(command: string[], env: Record<string, string>, options: { bin?: string; cwd?: string } = {}): BotProcess {
  const child = spawn(process.execPath, [options.bin ?? DEV_BIN, ...command], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function stopProcess(p: BotProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  return p.exited;
}
