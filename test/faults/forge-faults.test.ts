import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { waitForQuiet } from "../helpers/quiet.js";
import { FaultyGitHub, sendMention, slowEchoFlow, type Fault } from "./support.js";

/**
 * The production Octokit (retry on, throttle off) and the write budget against a GitHub that
 * answers the first write of a session's thread with a fault. Each session is still answered
 * exactly once; 5xx are retried with backoff, 429 and the secondary-limit 403 wait for their
 * Retry-After, and a request that never answers times out and is retried.
 */
let database: TestDatabase;
let fake: FakeGitHub;
let github: FaultyGitHub;
let bot: TestBot;

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
  github = await new FaultyGitHub(fake).start();
  bot = await startTestBot({
    databaseUrl: database.url,
    realOctokit: true,
    flows: [slowEchoFlow(10)],
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      ...UNLIMITED_WRITES,
      GITHUB_REQUEST_TIMEOUT_MS: "1000",
    },
  });
});

afterAll(async () => {
  await bot?.stop();
  await github?.stop();
  await fake?.stop();
  await database?.drop();
});

const secondary = { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits" };
const cases: [string, number, Fault, number][] = [
  // name, thread, fault served for the first (times) writes, minimum wait before the retry (ms)
  ["500", 0, { status: 500 }, 0],
  ["502", 1, { status: 502 }, 0],
  ["503", 2, { status: 503 }, 0],
  ["429 with Retry-After", 3, { status: 429, headers: { "retry-after": "2" }, body: { message: "Too Many Requests" } }, 2000],
  ["secondary rate limit 403 with Retry-After", 4, { status: 403, headers: { "retry-after": "2" }, body: secondary }, 2000],
  ["a request that never answers", 5, { hang: true }, 1000],
];

describe("forge API faults on the started note's post", () => {
  it.each(cases)("%s: retried, the session answered exactly once", async (_name, i, fault, minWait) => {
    const notePath = `/repos/Codertocat/Hello-World/issues/${1 + i + 100}/comments`;
    let served = 0;
    github.rules = [(r) => (r.method === "POST" && r.path === notePath && served++ < 2 ? fault : undefined)];
    expect(await sendMention(bot.baseUrl, 100 + i)).toBe(202);
    const reply = await waitFor("the reply", () => fake.live({ number: 101 + i }).find((c) => c.body.includes("forgebot:reply")), 40_000);
    expect(reply.body).toContain(`Echo tag-${100 + i}`);
    await waitForQuiet(bot);
    expect(fake.comments.filter((c) => c.number === 101 + i && c.body.includes("forgebot:reply"))).toHaveLength(1);
    expect(fake.live({ number: 101 + i }).filter((c) => c.body.includes("forgebot:started"))).toHaveLength(0);
    const posts = github.seen.filter((s) => s.method === "POST" && s.path === notePath);
    // Two faulted attempts, then the started note and the reply.
    expect(posts.map((p) => p.fault)).toEqual([fault && "hang" in fault ? "hang" : String((fault as { status: number }).status), posts[1]!.fault, null, null]);
    expect(posts[1]!.fault).toBe(posts[0]!.fault);
    for (const k of [1, 2]) expect(posts[k]!.at - posts[k - 1]!.at).toBeGreaterThanOrEqual(minWait - 50);
  }, 60_000);
});
