import { Redis } from "ioredis";
import { TEST_REDIS_URL } from "../test/helpers/db.js";

/**
 * Deletes every key under a bench's unique prefix (its queues, write-budget windows and pauses),
 * so repeated runs leave nothing behind in the shared Redis.
 */
export async function dropRedisPrefix(prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9_-]{6,}$/.test(prefix)) throw new Error(`refusing to drop Redis keys under "${prefix}"`);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  let dropped = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) dropped += await redis.unlink(...keys);
    } while (cursor !== "0");
    return dropped;
  } finally {
    redis.disconnect();
  }
}
