import pg from "pg";
import type { Logger } from "../sessions/logger.js";

export type Db = pg.Pool;

/** int8 columns (session ids, counts) come back as numbers; ids stay far below 2^53. */
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/** `options`: libpq connection options, e.g. `-c search_path=bullmq` for the queue's pool. */
export type PoolOptions = { max?: number; log: Logger; options?: string; applicationName?: string };

/** One pool per process; `application_name` makes connections attributable in pg_stat_activity. */
export function createPool(connectionString: string, options: PoolOptions): Db {
  const { log } = options;
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "forgebot",
    ...(options.options ? { options: options.options } : {}),
  });
  // A client losing its connection (Postgres restart) must not crash the process: idle clients
  // report through the pool, checked-out ones here and through their pending query, which fails.
  pool.on("error", (err: Error) => log.warn({ err }, "idle Postgres connection lost"));
  pool.on("connect", (client) => client.on("error", (err: Error) => log.warn({ err }, "Postgres connection lost")));
  return pool;
}

/**
 * Runs `work` in one transaction on one connection: committed when it returns, rolled back when
 * it throws (the work's error is what the caller sees; a rollback on a broken connection fails
 * too, and the connection is then dropped rather than reused).
 */
export async function inTransaction<T>(db: Db, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err: unknown) {
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
