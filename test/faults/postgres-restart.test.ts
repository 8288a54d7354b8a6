import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/storage/embedded.js";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { freePort } from "../helpers/processes.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { sendMention, slowEchoFlow } from "./support.js";

/**
 * Postgres (the source of truth) is stopped and started again while sessions are queued,
 * running and being delivered; a private embedded cluster, so no other test is touched. The
 * process stays up, and every mention ends with exactly one reply: none silently vanishes.
 */
const BEFORE = 16;
const AFTER = 6;

let dataDir: string;
let port: number;
let pg: EmbeddedDatabase;
let github: FakeGitHub;
let bot: TestBot;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "forgebot-pg-restart-"));
  port = await freePort();
  pg = await startEmbeddedPostgres(dataDir, port);
  github = await new FakeGitHub().start();
  bot = await startTestBot({
    databaseUrl: pg.url,
    flows: [slowEchoFlow(1000)],
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      ...UNLIMITED_WRITES,
      SESSION_CONCURRENCY: "4",
      RECONCILE_INTERVAL_MS: "500",
      RECONCILE_GRACE_MS: "2000",
    },
  });
}, 60_000);

afterAll(async () => {
  await bot?.stop();
  await github?.stop();
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe("a Postgres restart mid-run", () => {
  it("keeps the process up and every mention ends with exactly one reply", async () => {
    for (let i = 0; i < BEFORE; i++) expect(await sendMention(bot.baseUrl, i)).toBe(202);
    const replies = () => github.comments.filter((c) => c.body.includes("forgebot:reply"));
    await waitFor("the first replies", () => replies().length >= 2, 30_000);
    await pg.stop();
    expect(replies().length).toBeLessThan(BEFORE);
    // While Postgres is away a webhook cannot be recorded: it must be refused (GitHub redelivers), not lost.
    const during = await sendMention(bot.baseUrl, 999);
    expect(during).toBeGreaterThanOrEqual(500);
    await new Promise((r) => setTimeout(r, 1500));
    pg = await startEmbeddedPostgres(dataDir, port);

    for (let i = BEFORE; i < BEFORE + AFTER; i++) expect(await sendMention(bot.baseUrl, i, { retryUntil: Date.now() + 15_000 })).toBe(202);

    await waitFor("every reply", () => replies().length >= BEFORE + AFTER, 60_000);
    await waitForQuiet(bot);
    const bodies = replies().map((c) => c.body);
    const { rows } = await bot.bot.db.query<{ prompt: string; status: string; reply_note_id: string | null }>("SELECT prompt, status, reply_note_id FROM sessions");
    expect(rows).toHaveLength(BEFORE + AFTER);
    // Continued (finished with the echo) or failed with the fixed error text: never silent.
    expect(rows.filter((r) => !r.reply_note_id || !["finished", "failed"].includes(r.status))).toEqual([]);
    for (let i = 0; i < BEFORE + AFTER; i++) {
      const thread = github.comments.filter((c) => c.number === 1 + i && c.body.includes("forgebot:reply"));
      expect([i, thread.length]).toEqual([i, 1]);
    }
    expect(bodies).toHaveLength(BEFORE + AFTER);
    expect(github.live().filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
    expect((await fetch(`${bot.baseUrl}/healthz`)).status).toBe(200);
  }, 120_000);
});
