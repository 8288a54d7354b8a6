import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, testEnv, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, uniquePrefix, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub, type RecordedRequest } from "../../helpers/fake-github.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { githubExample } from "../../helpers/payloads.js";
import { spawnForgebot, stopProcess, type BotProcess } from "../../helpers/processes.js";
import { waitForQuiet } from "../../helpers/quiet.js";

/**
 * The write budget against a loopback GitHub with the production Octokit (retries on, Probot's
 * blanket throttle off): the budget alone decides when writes go out. The budget's "minute" is
 * WINDOW_MS here (WRITE_BUDGET_WINDOW_MS), so windows roll over in seconds rather than minutes:
 * POSTS_PER_WINDOW note posts in any window (sliding), of which replies may use all but a tenth.
 */
const WINDOW_MS = 3000;
const POSTS_PER_WINDOW = 20;

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

/** Sends `@forgebot help` in an issue; `installation` picks the write budget's scope. */
async function mention(baseUrl: string, issue: number, installation?: number): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = 9_100_000 + ++n;
    p.issue.number = issue;
    if (installation !== undefined) p.installation.id = installation;
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

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

const issueOf = (post: RecordedRequest) => Number(/\/issues\/(\d+)\/comments$/.exec(post.path)![1]);

/** Started notes and replies posted in issues [from, to]. */
function notePosts(range: [number, number]) {
  const posts = writesTo(range).filter((r) => r.method === "POST");
  const isStarted = (r: RecordedRequest) => String((r.body as { body?: string })?.body).includes("forgebot:started");
  return {
    all: posts,
    started: new Map(posts.filter(isStarted).map((r) => [issueOf(r), r.at])),
    replies: new Map(posts.filter((r) => !isStarted(r)).map((r) => [issueOf(r), r.at])),
  };
}

function deleteAt(issue: number): number | undefined {
  return writesTo([issue, issue]).find((r) => r.method === "DELETE")?.at;
}

describe(`with a ${WINDOW_MS / 1000}-second budget window (${POSTS_PER_WINDOW} note posts a window)`, () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      databaseUrl: database.url,
      realOctokit: true,
      env: { GHE_HOST: fake.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix(), WRITE_BUDGET_WINDOW_MS: String(WINDOW_MS), GITHUB_WRITES_PER_MINUTE: String(POSTS_PER_WINDOW) },
    });
  });
  afterAll(async () => {
    await bot.stop();
  });

  it("a burst over the budget, then steady mentions: started notes go first and fast, one reply each, no window over the budget", async () => {
    // Burst: BURST mentions at once ask for 2 × BURST posts, more than replies may use of a
    // window, so replies queue. Steady: mentions arrive while those replies wait; their
    // started notes must overtake the waiting replies, on the share kept for them.
    const BURST = 12;
    const STEADY = 2;
    const first = 1000;
    const sentAt = new Map<number, number>();
    for (let i = 0; i < BURST; i++) sentAt.set(first + i, await mention(bot.baseUrl, first + i));
    // Each burst session deletes its started note just before asking for its reply post
    // (deletes have their own budget): from here on every burst reply not yet posted is waiting.
    await waitFor("the burst's deletions", () => [...sentAt.keys()].every((issue) => deleteAt(issue) !== undefined), 20_000);
    for (let i = BURST; i < BURST + STEADY; i++) {
      sentAt.set(first + i, await mention(bot.baseUrl, first + i));
      await new Promise((r) => setTimeout(r, 300));
    }
    const last = first + BURST + STEADY - 1;
    await waitFor("every reply", () => notePosts([first, last]).replies.size === BURST + STEADY, 60_000);
    await waitFor("every deletion", () => [...sentAt.keys()].every((issue) => deleteAt(issue) !== undefined), 20_000);
    await waitForQuiet(bot);

    const { all, started, replies } = notePosts([first, last]);
    const t0 = Math.min(...sentAt.values());
    const maxPosts = maxInAnyWindow(all.map((r) => r.at), WINDOW_MS);
    const latencies = [...sentAt].map(([issue, at]) => started.get(issue)! - at);
    const replyWaits = [...sentAt.keys()].map((issue) => replies.get(issue)! - deleteAt(issue)!);
    // Priorities: for each steady session, how many burst replies its started note went out
    // before although they were already waiting (their session had deleted its started note
    // before this mention was sent).
    const burst = [...sentAt.keys()].slice(0, BURST);
    const overtaken = [...sentAt.keys()].slice(BURST).map((b) => burst.filter((a) => deleteAt(a)! < sentAt.get(b)! && replies.get(a)! > started.get(b)!).length);
    const figures = {
      windowMs: WINDOW_MS,
      postsPerWindow: POSTS_PER_WINDOW,
      sessions: { burst: BURST, steady: STEADY },
      startedNoteLatencyMs: { p50: median(latencies), p99: p99(latencies), max: Math.max(...latencies) },
      replyWaitAfterDeleteMs: { p50: median(replyWaits), max: Math.max(...replyWaits) },
      maxPostsInAnyWindow: maxPosts,
      overtakenRepliesPerSteadyStartedNote: overtaken,
      /** Every note post, ms after the first mention: S a started note, R a reply. */
      posts: all.map((r) => `${started.get(issueOf(r)) === r.at ? "S" : "R"}${r.at - t0}`).join(" "),
    };
    mkdirSync("test-artifacts", { recursive: true });
    writeFileSync("test-artifacts/write-budget-started-note-latency.json", JSON.stringify(figures, null, 2));

    for (let issue = first; issue <= last; issue++) {
      expect(fake.comments.filter((c) => c.number === issue && c.body.includes("forgebot:reply"))).toHaveLength(1);
      expect(fake.comments.filter((c) => c.number === issue && c.body.includes("forgebot:started"))).toEqual([expect.objectContaining({ deleted: true })]);
    }
    expect(all).toHaveLength(2 * (BURST + STEADY));
    // No window ever saw more than the budget, though the sessions asked for more.
    expect(maxPosts).toBeLessThanOrEqual(POSTS_PER_WINDOW);
    // Every steady started note overtook at least one waiting reply.
    expect({ overtaken }).toEqual({ overtaken: expect.not.arrayContaining([0]) });
    // Started notes are fast although replies wait for the budget: none waited for a window to
    // roll (their 10 % reserve admits them at once; the time is the machine's, not the budget's).
    expect(p99(latencies)).toBeLessThan(WINDOW_MS);
    expect(Math.max(...replyWaits)).toBeGreaterThan(Math.max(...latencies));
  }, 90_000);

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
    // Another installation: a budget of its own, untouched by the test before.
    for (let i = 0; i < 4; i++) await mention(bot.baseUrl, first + i, 77);
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
    // POSTS_PER_WINDOW note posts in any window for both processes together. Budgets of their
    // own would let each process post that much.
    const env = testEnv({
      databaseUrl: database.url,
      env: {
        GHE_HOST: fake.host,
        GHE_PROTOCOL: "http",
        QUEUE_PREFIX: uniquePrefix(),
        WRITE_BUDGET_WINDOW_MS: String(WINDOW_MS),
        GITHUB_WRITES_PER_MINUTE: String(POSTS_PER_WINDOW),
        LOG_LEVEL: "warn",
        LIFECYCLE_CONCURRENCY: "4",
      },
    });
    web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
    workers.push(spawnForgebot(["worker"], { ...env, PORT: "0" }), spawnForgebot(["worker"], { ...env, PORT: "0" }));
    // The web process shares the workers' queue prefix: both workers are on it once it lists them.
    await waitFor("both worker processes on the queue", async () => (await web.bot.queues.lifecycle.getWorkers()).length === 2, 30_000);
    // More than one window's budget in all: the rest waits for the window to slide.
    const SESSIONS = 15;
    const first = 3000;
    const last = first + SESSIONS - 1;
    await Promise.all(Array.from({ length: SESSIONS }, (_, i) => mention(web.baseUrl, first + i)));
    const replies = () => fake.comments.filter((c) => c.number >= first && c.number <= last && c.body.includes("forgebot:reply"));
    await waitFor("every reply", () => replies().length === SESSIONS, 60_000);
    await waitForQuiet(web);

    expect(replies()).toHaveLength(SESSIONS);
    const posts = writesTo([first, last]).filter((r) => r.method === "POST").map((r) => r.at);
    expect(posts).toHaveLength(2 * SESSIONS);
    // Shared: at most one window's budget goes out at once (replies up to their share, started
    // notes up to the whole), the rest when the window slides. Budgets of their own would each
    // post their half at once: all 30.
    const EARLY_MS = 1000;
    const early = posts.filter((at) => at - Math.min(...posts) < EARLY_MS).length;
    expect(early).toBeLessThanOrEqual(POSTS_PER_WINDOW);
    expect(posts.length - early).toBeGreaterThanOrEqual(2 * SESSIONS - POSTS_PER_WINDOW);
    expect(maxInAnyWindow(posts, WINDOW_MS)).toBeLessThanOrEqual(POSTS_PER_WINDOW);
  }, 90_000);
});
