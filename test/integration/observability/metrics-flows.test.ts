import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { startTestBot, UNLIMITED_WRITES, waitFor, type TestBot } from "../../helpers/bot.js";
import { changeScript, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import type { FakeFile } from "../../helpers/fake-github.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../../helpers/fake-openai.js";
import { GitHubPublishForge, type ThreadId } from "../../helpers/publish-forges.js";
import { authorize, callback, formTokenFor, GITHUB_SIGN_IN_ENV, postForm, SESSION_COOKIE, setCookie, signIn, startSignIn } from "../../helpers/sign-in.js";
import { recorded, rules } from "../../unit/observability/deploy-files.js";
import { selectors, type Matcher } from "../../unit/observability/promql.js";
import { APP_HEAD, APP_PATCH, BASE, HEAD } from "../review/fixtures.js";
import { LINK_SECRET, signedPath } from "../web/support.js";
import { delta, scrape, sum, type Samples } from "./scrape.js";

/**
 * Issue 19's acceptance: one bot, `/metrics` scraped before and after one review, one change
 * published through `@forgebot apply`, one sandboxed command killed at its time limit and one
 * refused sign-in (plus a signed-in reader's refused Retry). Each flow's counters move by exactly
 * what it did. Then every series the shipped Prometheus rules read is one this bot exposes.
 */

const REPO = "Codertocat/Hello-World";
const GH = { forge: "github" };
const TIMEOUT_MS = 1500;
const SLOW_REQUEST = "wait for the slow build to finish";

const root = workspaceRoot();
const forge = new GitHubPublishForge();
let database: TestDatabase;
let bot: TestBot;
let model: FakeOpenAI;
/** The first scrape of the file, and the session the review made (the reader tries to retry it). */
let first: Samples;
let reviewSessionId = 0;

/** The review's findings on src/app.ts: three on lines of the diff, one outside it (the summary), one malformed (dropped). */
const FINDINGS: FakeReply = {
  kind: "tools",
  calls: [
    {
      name: "submit_review",
      input: {
        summary: "Mostly fine.",
        findings: [
          { path: "src/app.ts", side: "new", start_line: 3, end_line: 3, severity: "high", body: "Keep the numbering consistent.", replacement: ["line 3"] },
          { path: "src/app.ts", side: "new", start_line: 11, end_line: 12, severity: "medium", body: "Spell the numbers out." },
          { path: "src/app.ts", side: "old", start_line: 12, end_line: 12, severity: "low", body: "Was removing line 12 intended?" },
          { path: "src/app.ts", side: "new", start_line: 7, end_line: 7, severity: "medium", body: "Line 7 is not part of this change." },
          { path: "", side: "new", start_line: 1, severity: "high", body: "A finding without a path." },
        ],
      },
    },
  ],
};

/**
 * The change: changeScript's edits, then one command that runs the repository's tests and writes
 * a binary file (a NUL byte: GitHub takes it as a blob of its own, so the publish runs every step),
 * printing it too: a NUL in a command's output is stored as U+FFFD, the session goes on.
 */
const CHANGE_COMMAND = "sh test.sh && printf 'forgebot\\000\\001' | tee data.bin";
const edits = changeScript();
function change(r: ModelRequest): FakeReply {
  if (r.toolResults === 2) return { kind: "tools", calls: [{ name: "run", input: { command: CHANGE_COMMAND } }] };
  return edits(r);
}
/** One script for the three sessions: the review, the change, and the change whose command outlives its time limit. */
function script(r: ModelRequest): FakeReply {
  if (r.raw.includes("### src/app.ts")) return FINDINGS;
  if (r.raw.includes(SLOW_REQUEST)) {
    return r.toolResults === 0 ? { kind: "tools", calls: [{ name: "run", input: { command: "sleep 30" } }] } : { kind: "text", text: "The build did not finish in time." };
  }
  return change(r);
}

/** Scrapes until `ready` holds: counters move just before the forge write the test waits for. */
async function scrapeUntil(what: string, ready: (s: Samples) => boolean, timeoutMs = 30_000): Promise<Samples> {
  let last: Samples = new Map();
  await waitFor(what, async () => ready((last = await scrape(bot.baseUrl))), timeoutMs);
  return last;
}

function reply(thread: ThreadId, n: number): Promise<string> {
  return waitFor(`reply ${n} in #${thread.number}`, () => forge.replies(thread)[n - 1], 30_000);
}

async function sessionOf(number: number): Promise<{ id: number; status: string; flow: string }> {
  const { rows } = await database.db.query<{ id: string; status: string; flow: string }>("SELECT id, status, flow FROM sessions WHERE thread_number = $1 ORDER BY id DESC LIMIT 1", [number]);
  return { id: Number(rows[0]!.id), status: rows[0]!.status, flow: rows[0]!.flow };
}

/** Prometheus' label matching: `=~` and `!~` are anchored regular expressions. */
function matches(labels: Record<string, string>, m: Matcher): boolean {
  const v = labels[m.label] ?? "";
  if (m.op === "=") return v === m.value;
  if (m.op === "!=") return v !== m.value;
  const re = new RegExp(`^(?:${m.value})$`);
  return m.op === "=~" ? re.test(v) : !re.test(v);
}

/** The scraped series of `metric`, with their labels. */
function seriesOf(samples: Samples, metric: string): { labels: Record<string, string>; value: number }[] {
  const found = [];
  for (const [k, value] of samples) {
    if (k !== metric && !k.startsWith(`${metric}{`)) continue;
    // The key is `name{label="v",...}` as scrape.ts builds it: read the labels back.
    const labels = Object.fromEntries([...(k.slice(metric.length).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))].map((m) => [m[1]!, m[2]!]));
    found.push({ labels, value });
  }
  return found;
}

/** The sum of what the selector `metric{matchers}` reads. */
function selected(samples: Samples, metric: string, ms: Matcher[]): number {
  return seriesOf(samples, metric)
    .filter((s) => ms.every((m) => matches(s.labels, m)))
    .reduce((n, s) => n + s.value, 0);
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI(script).start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      WORKSPACE_DIR: root.dir,
      SANDBOX_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
      ...UNLIMITED_WRITES,
      ...GITHUB_SIGN_IN_ENV,
    },
  });
  await enableChanges(database.db, forge.repositoryActor);
  // One fake GitHub for the file: a repository to publish to, a pull request to review, OAuth to sign in with.
  forge.reset();
  const files: FakeFile[] = [{ filename: "src/app.ts", status: "modified", patch: APP_PATCH, changes: 5 }];
  forge.fake.threads.set(`${REPO}#201`, { title: "Numbers", body: "Renames the numbers.", author: "octo", headSha: HEAD, baseSha: BASE, files });
  forge.fake.files.set("src/app.ts", `${APP_HEAD.join("\n")}\n`);
  first = await scrape(bot.baseUrl);
});

afterAll(async () => {
  await bot.stop();
  await model.stop();
  await database.drop();
  root.remove();
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("/metrics over the review, change, sandbox and sign-in flows", () => {
  it("a review: one posting, its findings by where they went, one review session ended", async () => {
    const before = await scrape(bot.baseUrl);
    const pr: ThreadId = { kind: "cr", number: 201 };
    await forge.mention(bot, pr, "@forgebot review");
    await reply(pr, 1);
    const after = await scrapeUntil("the review session counted", (s) => delta(before, s, "forgebot_sessions_ended_total", { ...GH, flow: "review", status: "finished" }) === 1);

    expect(forge.fake.reviews).toHaveLength(1);
    const review = forge.fake.reviews[0]!;
    const session = await sessionOf(201);
    expect(session).toMatchObject({ flow: "review", status: "finished" });
    reviewSessionId = session.id;
    // What GitHub got: three comments on lines of the diff, line 7 in the summary.
    expect(review.comments).toHaveLength(3);
    expect(review.body).toContain("`src/app.ts` line 7");

    const moved = (name: string, labels: Record<string, string>) => delta(before, after, name, labels);
    expect({
      posted: moved("forgebot_reviews_total", { ...GH, outcome: "posted" }),
      foundExisting: moved("forgebot_reviews_total", { ...GH, outcome: "found_existing" }),
      failed: moved("forgebot_reviews_total", { ...GH, outcome: "failed" }),
      inline: moved("forgebot_review_comments_total", { ...GH, outcome: "inline" }),
      summary: moved("forgebot_review_comments_total", { ...GH, outcome: "summary" }),
      rejected: moved("forgebot_review_comments_total", { ...GH, outcome: "rejected" }),
      allComments: sum(after, "forgebot_review_comments_total") - sum(before, "forgebot_review_comments_total"),
      ended: moved("forgebot_sessions_ended_total", { ...GH, flow: "review", status: "finished" }),
      allEnded: sum(after, "forgebot_sessions_ended_total") - sum(before, "forgebot_sessions_ended_total"),
      reviewWrites: moved("forgebot_forge_writes_total", { ...GH, kind: "review", outcome: "ok" }),
    }).toEqual({
      posted: 1,
      foundExisting: 0,
      failed: 0,
      inline: review.comments.length,
      summary: 1,
      rejected: 0,
      allComments: review.comments.length + 1,
      ended: 1,
      allEnded: 1,
      reviewWrites: 1,
    });
  });

  it("a change published by `apply`: its command, workspace, publish steps and both session ends", async () => {
    const before = await scrape(bot.baseUrl);
    const issue: ThreadId = { kind: "issue", number: 401 };
    await forge.mention(bot, issue, "@forgebot change make sub subtract and export it from src/index.js");
    expect(await reply(issue, 1)).toContain("Reply `@forgebot apply` to open a draft pull request with this change.");
    const waiting = await scrapeUntil("the change waiting for approval", (s) => delta(before, s, "forgebot_sessions_ended_total", { ...GH, flow: "change", status: "plan_approval_required" }) === 1);
    // Nothing is published before the approval.
    expect(sum(waiting, "forgebot_publishes_total") - sum(before, "forgebot_publishes_total")).toBe(0);
    expect(sum(waiting, "forgebot_publish_steps_total") - sum(before, "forgebot_publish_steps_total")).toBe(0);

    await forge.mention(bot, issue, "@forgebot apply");
    expect(await reply(issue, 2)).toContain("Opened draft pull request #");
    const after = await scrapeUntil("the change finished", (s) => delta(before, s, "forgebot_sessions_ended_total", { ...GH, flow: "change", status: "finished" }) === 1);
    expect(forge.openedChangeRequests()).toHaveLength(1);
    expect(forge.repoWrites().filter((w) => w.path.endsWith("/git/blobs"))).toHaveLength(1);
    expect(await sessionOf(401)).toMatchObject({ flow: "change", status: "finished" });
    const { rows: printed } = await database.db.query<{ output: string }>("SELECT output FROM session_commands WHERE command = $1", [CHANGE_COMMAND]);
    expect(printed.map((p) => p.output.includes("forgebot\uFFFD\u0001"))).toEqual([true]);

    const moved = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    const steps = ["blobs", "tree", "commit", "branch", "change_request"] as const;
    expect({
      published: moved("forgebot_publishes_total", { ...GH, outcome: "published" }),
      allPublishes: sum(after, "forgebot_publishes_total") - sum(before, "forgebot_publishes_total"),
      stepsOk: Object.fromEntries(steps.map((step) => [step, moved("forgebot_publish_steps_total", { ...GH, step, outcome: "ok" })])),
      allSteps: sum(after, "forgebot_publish_steps_total") - sum(before, "forgebot_publish_steps_total"),
      commandsExitZero: moved("forgebot_sandbox_commands_total", { outcome: "exit_zero" }),
      allCommands: sum(after, "forgebot_sandbox_commands_total") - sum(before, "forgebot_sandbox_commands_total"),
      commandDurations: moved("forgebot_sandbox_command_duration_seconds_count", { outcome: "exit_zero" }),
      workspaceSizes: moved("forgebot_workspace_bytes_count", GH),
      // The repository is a few hundred bytes: in the first bucket.
      workspaceSizesUnder10k: moved("forgebot_workspace_bytes_bucket", { ...GH, le: "10000" }),
      workspacesMade: moved("forgebot_workspace_create_seconds_count", { ...GH, outcome: "ok" }),
      allWorkspaceAttempts: sum(after, "forgebot_workspace_create_seconds_count") - sum(before, "forgebot_workspace_create_seconds_count"),
      waitingEnded: moved("forgebot_sessions_ended_total", { ...GH, flow: "change", status: "plan_approval_required" }),
      finishedEnded: moved("forgebot_sessions_ended_total", { ...GH, flow: "change", status: "finished" }),
      allEnded: sum(after, "forgebot_sessions_ended_total") - sum(before, "forgebot_sessions_ended_total"),
    }).toEqual({
      published: 1,
      allPublishes: 1,
      stepsOk: { blobs: 1, tree: 1, commit: 1, branch: 1, change_request: 1 },
      allSteps: steps.length,
      commandsExitZero: 1,
      allCommands: 1,
      commandDurations: 1,
      workspaceSizes: 1,
      workspaceSizesUnder10k: 1,
      workspacesMade: 1,
      allWorkspaceAttempts: 1,
      waitingEnded: 1,
      finishedEnded: 1,
      allEnded: 2,
    });
    expect(moved("forgebot_sandbox_command_duration_seconds_sum", { outcome: "exit_zero" })).toBeGreaterThan(0);
    expect(moved("forgebot_workspace_bytes_sum", GH)).toBeGreaterThan(0);
    expect(moved("forgebot_workspace_create_seconds_sum", { ...GH, outcome: "ok" })).toBeGreaterThan(0);
  });

  it("a command past SANDBOX_COMMAND_TIMEOUT_MS: one timeout, timed at the limit or a little more", async () => {
    const before = await scrape(bot.baseUrl);
    const issue: ThreadId = { kind: "issue", number: 402 };
    await forge.mention(bot, issue, `@forgebot change ${SLOW_REQUEST}`);
    await reply(issue, 1);
    // Nothing changed in the workspace: the session ends with the model's answer, no approval asked.
    expect(await sessionOf(402)).toMatchObject({ flow: "change", status: "finished" });
    const after = await scrapeUntil("the slow change ended", (s) => delta(before, s, "forgebot_sessions_ended_total", { ...GH, flow: "change", status: "finished" }) === 1);
    // The model was told the command was killed.
    expect(model.requests.some((r) => r.raw.includes(SLOW_REQUEST) && r.raw.includes("killed at the time limit"))).toBe(true);

    const moved = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect({
      timeouts: moved("forgebot_sandbox_commands_total", { outcome: "timeout" }),
      allCommands: sum(after, "forgebot_sandbox_commands_total") - sum(before, "forgebot_sandbox_commands_total"),
      timed: moved("forgebot_sandbox_command_duration_seconds_count", { outcome: "timeout" }),
      // Killed at 1.5 s: not in the buckets up to 1 s, in +Inf.
      under1s: moved("forgebot_sandbox_command_duration_seconds_bucket", { outcome: "timeout", le: "1" }),
      inf: moved("forgebot_sandbox_command_duration_seconds_bucket", { outcome: "timeout", le: "+Inf" }),
      workspacesMade: moved("forgebot_workspace_create_seconds_count", { ...GH, outcome: "ok" }),
      allEnded: sum(after, "forgebot_sessions_ended_total") - sum(before, "forgebot_sessions_ended_total"),
    }).toEqual({ timeouts: 1, allCommands: 1, timed: 1, under1s: 0, inf: 1, workspacesMade: 1, allEnded: 1 });
    const seconds = moved("forgebot_sandbox_command_duration_seconds_sum", { outcome: "timeout" });
    expect(seconds).toBeGreaterThanOrEqual(TIMEOUT_MS / 1000);
    expect(seconds).toBeLessThan(30);
  });

  it("a forged sign-in state and a reader's Retry: one bad_state sign-in, one not_writer refusal", async () => {
    const before = await scrape(bot.baseUrl);
    const start = await startSignIn(bot.baseUrl, "github");
    const back = await authorize(start.authorizeUrl);
    const forged = new URL(back);
    forged.searchParams.set("state", "A".repeat(43));
    const refused = await callback(bot.baseUrl, forged, start.browserCookie);
    expect(refused.status).toBe(400);
    expect(setCookie(refused, SESSION_COOKIE)).toBeUndefined();

    // A reader signs in (one ok sign-in) and posts the review session's Retry with a token valid for them.
    forge.fake.permissions.set("rita", "read");
    forge.fake.oauthUser = { id: 7001, login: "rita" };
    const reader = await signIn(bot.baseUrl, "github");
    const retry = await postForm(`${bot.baseUrl}${signedPath(reviewSessionId, "/retry")}`, { token: formTokenFor(LINK_SECRET, reader.id, `retry:${reviewSessionId}`) }, { cookie: reader.cookie });
    expect(retry.status).toBe(403);
    expect(await retry.text()).toContain("does not count @rita among them");
    const after = await scrape(bot.baseUrl);

    const moved = (name: string, labels: Record<string, string>) => delta(before, after, name, labels);
    expect({
      badState: moved("forgebot_signins_total", { ...GH, outcome: "bad_state" }),
      ok: moved("forgebot_signins_total", { ...GH, outcome: "ok" }),
      allSignIns: sum(after, "forgebot_signins_total") - sum(before, "forgebot_signins_total"),
      notWriter: moved("forgebot_permission_refusals_total", { ...GH, reason: "not_writer" }),
      allRefusals: sum(after, "forgebot_permission_refusals_total") - sum(before, "forgebot_permission_refusals_total"),
      retryNotAllowed: moved("forgebot_retries_total", { origin: "button", outcome: "not_allowed" }),
      allRetries: sum(after, "forgebot_retries_total") - sum(before, "forgebot_retries_total"),
    }).toEqual({ badState: 1, ok: 1, allSignIns: 2, notWriter: 1, allRefusals: 1, retryNotAllowed: 1, allRetries: 1 });
  });

  it("after all four, every flow is counted since the first scrape, and every series the Prometheus rules read is exposed", async () => {
    const last = await scrape(bot.baseUrl);
    const moved = (name: string, labels: Record<string, string>) => delta(first, last, name, labels);
    expect({
      review: moved("forgebot_reviews_total", { ...GH, outcome: "posted" }),
      published: moved("forgebot_publishes_total", { ...GH, outcome: "published" }),
      timeout: moved("forgebot_sandbox_commands_total", { outcome: "timeout" }),
      badState: moved("forgebot_signins_total", { ...GH, outcome: "bad_state" }),
      notWriter: moved("forgebot_permission_refusals_total", { ...GH, reason: "not_writer" }),
    }).toEqual({ review: 1, published: 1, timeout: 1, badState: 1, notWriter: 1 });

    // Alerts read recorded series; recording rules read what forgebot exports. Each selector of a
    // recording rule must find its metric on /metrics with every label it matches on.
    const problems: string[] = [];
    const readBy = new Map<string, number>();
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      for (const { metric, matchers } of selectors(rule.expr).selectors) {
        if (metric.includes(":")) {
          if (!recorded.has(metric)) problems.push(`${rule.record ?? rule.alert}: ${metric} is recorded by no rule`);
          continue;
        }
        readBy.set(metric, (readBy.get(metric) ?? 0) + 1);
        const series = seriesOf(last, metric);
        if (series.length === 0) {
          problems.push(`${rule.record ?? rule.alert}: ${metric} is not on /metrics`);
          continue;
        }
        for (const m of matchers) if (!series.some((s) => m.label in s.labels)) problems.push(`${rule.record ?? rule.alert}: ${metric} has no label ${m.label} on /metrics`);
      }
    }
    expect(problems).toEqual([]);
    expect([...readBy.keys()]).toEqual(expect.arrayContaining(["forgebot_publishes_total", "forgebot_reviews_total"]));

    // The review and publish SLOs count what these flows did: each selector of their rules that
    // reads a success moved by exactly one, the others (the errors) not at all.
    const tally = { one: 0, none: 0 };
    for (const rule of rules.filter((r) => r.record)) {
      for (const { metric, matchers } of selectors(rule.expr).selectors) {
        if (metric !== "forgebot_reviews_total" && metric !== "forgebot_publishes_total") continue;
        const success = metric === "forgebot_reviews_total" ? "posted" : "published";
        const reads = seriesOf(last, metric).some((s) => s.labels.outcome === success && matchers.every((m) => matches(s.labels, m)));
        const expected = reads ? 1 : 0;
        tally[reads ? "one" : "none"]++;
        expect({ rule: rule.record, metric, moved: selected(last, metric, matchers) - selected(first, metric, matchers) }).toEqual({ rule: rule.record, metric, moved: expected });
      }
    }
    expect(tally.one).toBeGreaterThan(0);
    expect(tally.none).toBeGreaterThan(0);
  });
});
