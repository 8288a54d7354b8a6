import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type RecordedRequest } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";

/**
 * The write budget against a loopback GitHub with the production Octokit (retries on, Probot's
 * blanket throttle off): the budget alone decides when writes go out.
 */
let database: TestDatabase;
let fake: FakeGitHub;
let n = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  fake = await new FakeGitHub().start();
});

afterAll(async () => {
  await fake.stop();
  await database.drop();
});

async function mention(baseUrl: string, issue: number): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = 9_100_000 + ++n;
    p.issue.number = issue;
    p.comment.body = "@forgebot help";
  });
  const body = JSON.stringify(payload);
  const sentAt = Date.now();
  const res = await fetch(`${baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `budget-${n}`, body), body });
  expect(res.status).toBe(202);
  return sentAt;
}

/** Writes (posts and deletes) that touched issues in [from, to]. */
function writesTo([from, to]: [number, number]): RecordedRequest[] {
  return fake.writes().filter((r) => {
    const posted = /\/issues\/(\d+)\/comments$/.exec(r.path);
    const deleted = /\/issues\/comments\/(\d+)$/.exec(r.path);
    const issue = posted ? Number(posted[1]) : deleted ? fake.comments.find((c) => c.id === Number(deleted[1]))?.number : undefined;
    return issue !== undefined && issue >= from && issue <= to;
  });
}

function maxInAnyWindow(stamps: number[], windowMs: number): number {
  const sorted = [...stamps].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

describe("with the default GitHub limits (80 note posts a minute, 500 an hour; 120 deletes a minute)", () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      databaseUrl: database.url,
      realOctokit: true,
      env: { GHE_HOST: fake.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix() },
    });
  });
  afterAll(async () => {
    await bot.stop();
  });

  it("30 mentions in one repository within a minute: started notes within 2 s, one reply each, budget kept", async () => {
    const first = 1000;
    const sentAt = new Map<number, number>();
    for (let i = 0; i < 30; i++) {
      sentAt.set(first + i, await mention(bot.baseUrl, first + i));
      await new Promise((r) => setTimeout(r, 1950));
    }
    await waitFor("30 replies", () => fake.comments.filter((c) => c.number >= first && c.number < first + 30 && c.body.includes("forgebot:reply")).length === 30, 60_000);
    await waitFor("30 deletions", () => fake.comments.filter((c) => c.number >= first && c.number < first + 30 && c.body.includes("forgebot:started") && c.deleted).length === 30, 60_000);

    const latencies = [...sentAt].map(([issue, at]) => {
      const post = fake.requests.find((r) => r.method === "POST" && r.path.endsWith(`/issues/${issue}/comments`) && String((r.body as { body?: string })?.body).includes("forgebot:started"));
      return post!.at - at;
    });
    const figures = { p50: latencies.sort((a, b) => a - b)[14], p99: p99(latencies), max: Math.max(...latencies) };
    mkdirSync("test-artifacts", { recursive: true });
    writeFileSync("test-artifacts/write-budget-started-note-latency.json", JSON.stringify(figures, null, 2));
    expect(p99(latencies)).toBeLessThanOrEqual(2000);
    for (let issue = first; issue < first + 30; issue++) {
      expect(fake.comments.filter((c) => c.number === issue && c.body.includes("forgebot:reply"))).toHaveLength(1);
      expect(fake.comments.filter((c) => c.number === issue && c.body.includes("forgebot:started"))).toHaveLength(1);
    }
    const writes = writesTo([first, first + 29]);
    const posts = writes.filter((r) => r.method === "POST").map((r) => r.at);
    const deletes = writes.filter((r) => r.method === "DELETE").map((r) => r.at);
    expect([posts.length, deletes.length]).toEqual([60, 30]);
    expect(maxInAnyWindow(posts, 60_000)).toBeLessThanOrEqual(80);
    expect(maxInAnyWindow(deletes, 60_000)).toBeLessThanOrEqual(120);
  }, 150_000);

  it("a 429 with Retry-After and a secondary-limit 403 slow the installation and lose nothing", async () => {
    const first = 2000;
    let limited = 0;
    const answers: [number, unknown, number][] = [];
    fake.interceptors.push((r) => {
      const reply = r.method === "POST" && String((r.body as { body?: string })?.body).includes("forgebot:reply");
      if (!reply || limited >= 2) return undefined;
      limited++;
      const at = Date.now();
      if (limited === 1) {
        answers.push([429, "retry-after 2", at]);
        return [429, { message: "API rate limit exceeded" }, { "retry-after": "2" }];
      }
      answers.push([403, "secondary", at]);
      return [403, { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." }, { "retry-after": "1" }];
    });
    for (let i = 0; i < 4; i++) await mention(bot.baseUrl, first + i);
    await waitFor("4 replies", () => fake.comments.filter((c) => c.number >= first && c.number < first + 4 && c.body.includes("forgebot:reply")).length === 4, 30_000);
    expect(answers.map((a) => a[0])).toEqual([429, 403]);
    // Nothing was written for this installation while the 429's pause (2 s) ran.
    const pauseStart = answers[0]![2];
    const during = fake.writes().filter((r) => r.at > pauseStart + 50 && r.at < pauseStart + 1900);
    expect(during).toHaveLength(0);
    for (let issue = first; issue < first + 4; issue++) {
      expect(fake.comments.filter((c) => c.number === issue && c.body.includes("forgebot:reply"))).toHaveLength(1);
    }
    fake.interceptors.length = 0;
  }, 60_000);
});

describe("two worker processes with Redis", () => {
  const workers: BotProcess[] = [];
  let web: TestBot;
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopProcess(w, "SIGKILL")));
    await web?.stop();
  });

  it("share one budget: the forge sees their combined rate within it", async () => {
    // 20 a minute: a burst of 10, then one every 6 s — for both processes together.
    const env = testEnv({
      databaseUrl: database.url,
      env: { GHE_HOST: fake.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix(), GITHUB_WRITES_PER_MINUTE: "20", LOG_LEVEL: "warn", LIFECYCLE_CONCURRENCY: "4" },
    });
    web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
    workers.push(spawnForgebot(["worker"], { ...env, PORT: "0" }), spawnForgebot(["worker"], { ...env, PORT: "0" }));
    await new Promise((r) => setTimeout(r, 2500));
    const first = 3000;
    const before = fake.writes().length;
    const start = Date.now();
    await Promise.all(Array.from({ length: 12 }, (_, i) => mention(web.baseUrl, first + i)));
    await new Promise((r) => setTimeout(r, 9000));
    const writes = fake.writes().slice(before).filter((r) => r.method === "POST" && r.at - start < 9000);
    // Shared: the burst of 10 note posts plus at most 2 refills in 9 s. Separate budgets would allow ~20.
    expect(writes.length).toBeGreaterThanOrEqual(10);
    expect(writes.length).toBeLessThanOrEqual(12);
  }, 60_000);
});
