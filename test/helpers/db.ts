import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "../../src/storage/migrate.js";
import { createLogger } from "../../src/logging/logger.js";
import { createPool, type Db } from "../../src/storage/pool.js";

/** The machine's Postgres (127.0.0.1:5432, trust auth); override with TEST_DATABASE_ADMIN_URL. */
export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export type TestDatabase = { url: string; name: string; db: Db; drop(): Promise<void> };

function urlFor(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, migrated database per test file, so files run in parallel without sharing rows. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `forgebot_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = urlFor(name);
  const db = createPool(url, { max: 5, log: createLogger("silent"), applicationName: "forgebot-test" });
  if (options.migrate !== false) await migrate(db);
  return {
    url,
    name,
    db,
    async drop() {
      await db.end().catch(() => undefined);
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A unique BullMQ prefix per test so queues never collide on the shared Redis. */
export function uniquePrefix(): string {
  return `fbtest${randomBytes(5).toString("hex")}`;
}
