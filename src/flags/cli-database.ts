import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import type { Config } from "../config/index.js";
import { createLogger } from "../logging/logger.js";
import { startEmbeddedPostgres } from "../storage/embedded.js";
import { createPool, type Db } from "../storage/pool.js";

export type CliDatabase = { db: Db; close(): Promise<void> };

/**
 * The URL `forgebot start` gives its embedded Postgres (see storage/embedded.ts): user and
 * database `forgebot`, the password kept in `<dataDir>/pg.password`.
 */
function embeddedUrl(dataDir: string, port: number): string | null {
  const file = path.join(dataDir, "pg.password");
  if (!existsSync(file)) return null;
  const password = readFileSync(file, "utf8").trim();
  return `postgres://forgebot:${encodeURIComponent(password)}@127.0.0.1:${port}/forgebot`;
}

async function isRunning(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === "ECONNREFUSED") return false;
    throw new Error(`cannot connect to the embedded database on 127.0.0.1:${new URL(url).port}`, { cause: err });
  }
}

/**
 * DATABASE_URL when set. Otherwise the embedded database of `forgebot start`: the running one
 * when it is up, else started here for the length of the command (with its data under DATA_DIR,
 * so flags set before the first start are kept).
 */
export async function openCliDatabase(config: Config, note: (line: string) => void): Promise<CliDatabase> {
  const log = createLogger(config.logLevel);
  if (config.databaseUrl) {
    const db = createPool(config.databaseUrl, { max: 2, log });
    return { db, close: () => db.end() };
  }
  const url = embeddedUrl(config.dataDir, config.embeddedPgPort);
  if (url && (await isRunning(url))) {
    note(`DATABASE_URL is unset; using the running embedded database (${config.dataDir})`);
    const db = createPool(url, { max: 2, log });
    return { db, close: () => db.end() };
  }
  note(`DATABASE_URL is unset; starting the embedded database (${config.dataDir}) for this command`);
  const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort);
  const db = createPool(embedded.url, { max: 2, log });
  return {
    db,
    async close() {
      await db.end();
      await embedded.stop();
    },
  };
}
