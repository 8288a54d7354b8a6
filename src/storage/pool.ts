import pg from "pg";

export type Db = pg.Pool;

/** int8 columns (session ids, counts) come back as numbers; ids stay far below 2^53. */
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/** One pool per process; `application_name` makes connections attributable in pg_stat_activity. */
export function createPool(connectionString: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString, max, application_name: "forgebot" });
  // A client losing its connection (Postgres restart) must not crash the process: idle clients
  // report through the pool, checked-out ones through their pending query.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}
