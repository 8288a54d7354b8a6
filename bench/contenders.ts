import { testEnv } from "../test/helpers/bot.js";
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from "../test/helpers/db.js";
import { dropRedisPrefix } from "./redis-prefix.js";
import { spawnForgebotServing, spawnScriptServing, stopAll, type Serving } from "./spawn.js";

/** The webhook receivers the ack and ingest benchmarks compare, each its own Node process. */
export type Contenders = {
  servers: Serving[];
  /** forgebot's database and the floor's. */
  databases: { forgebot: TestDatabase; floor: TestDatabase };
  /** The webhook URL of the server called `name`. */
  url(name: string): string;
  close(): Promise<void>;
};

const PATH = "/api/github/webhooks";

/**
 * Starts `forgebot web`, a bare Probot app that only acknowledges, the durability floor
 * (bench/servers/floor.ts) and, with `withNull`, a server that answers 202 without reading
 * anything (the load generator's ceiling) — each on its own database and queue prefix.
 */
export async function startContenders(options: { withNull?: boolean } = {}): Promise<Contenders> {
  const databases: TestDatabase[] = [];
  const prefixes: string[] = [];
  const servers: Serving[] = [];
  const close = async () => {
    await stopAll(servers.map((s) => s.proc), 10_000);
    for (const db of databases) await db.drop().catch(() => undefined);
    for (const prefix of prefixes) await dropRedisPrefix(prefix).catch(() => undefined);
  };
  try {
    const forgebot = await createTestDatabase();
    databases.push(forgebot);
    const floor = await createTestDatabase();
    databases.push(floor);
    const env = testEnv({ databaseUrl: forgebot.url, env: { GHE_HOST: "127.0.0.1:9", GHE_PROTOCOL: "http", LOG_LEVEL: "error" } });
    const floorPrefix = uniquePrefix();
    prefixes.push(env.QUEUE_PREFIX!, floorPrefix);
    const started = await Promise.allSettled([
      spawnForgebotServing("forgebot", "web", env),
      spawnScriptServing("bare Probot", "bench/servers/bare-probot.ts", { WEBHOOK_SECRET: env.WEBHOOK_SECRET! }),
      spawnScriptServing("floor", "bench/servers/floor.ts", { WEBHOOK_SECRET: env.WEBHOOK_SECRET!, DATABASE_URL: floor.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: floorPrefix }),
      ...(options.withNull ? [spawnScriptServing("null", "bench/servers/null.ts", {})] : []),
    ]);
    for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const byName = new Map(servers.map((s) => [s.name, s]));
    return { servers, databases: { forgebot, floor }, url: (name) => `${byName.get(name)!.baseUrl}${PATH}`, close };
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
