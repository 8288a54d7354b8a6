import { afterAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { ProbotOctokit } from "probot";
import { call, githubRetryAfterMs } from "../../../../src/forges/github/api.js";
import { createGitHubClient } from "../../../../src/forges/github/client.js";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../../../src/sessions/forge-port.js";
import { TestOctokit } from "../../../helpers/bot.js";
import { FakeGitHub } from "../../../helpers/fake-github.js";
import { nockGitHub } from "../../../helpers/nock-github.js";

const REPO = "octo-org/hello-world";
const ISSUE: ThreadRef = { forge: "github", host: "github.com", repoId: "1296269", repoPath: REPO, installationId: 4242, kind: "issue", number: 17 };
const PR: ThreadRef = { ...ISSUE, kind: "change_request", number: 5 };
const ALLOWED = ["admin", "maintain", "write"];

let fake: FakeGitHub;

function client(thread: ThreadRef = ISSUE, allowedRoles: readonly string[] = ALLOWED): ForgeClient {
  const octokit = new TestOctokit({ auth: "ghs_test" }) as unknown as ProbotOctokit;
  return createGitHubClient(octokit, thread, allowedRoles);
}

/** A review thread on PR whose top-level comment is `root`. */
function reviewThread(root: number): ThreadRef {
  return { ...PR, replyTo: { type: "review_thread", rootCommentId: String(root) } };
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const paths = (method: string) => fake.requests.filter((r) => r.method === method).map((r) => r.path);

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitHub client: notes", () => {
  it("posts in an issue or pull request thread as an issue comment", async () => {
    const note = await client().postNote(ISSUE, "hello");
    const posted = fake.comments[0]!;
    expect(note).toEqual({ id: String(posted.id), type: "issue_comment" });
    expect(posted).toMatchObject({ kind: "issue_comment", repo: REPO, number: 17, body: "hello" });
    expect(paths("POST")).toEqual([`/repos/${REPO}/issues/17/comments`]);
  });

  it("posts in a review thread as a reply to the thread's top-level comment", async () => {
    const root = fake.addComment({ repo: REPO, number: 5, kind: "review_comment", body: "What about this line?", author: "octocat", createdAt: ago(1000), path: "src/a.ts" });
    const thread = reviewThread(root.id);
    const note = await client(thread).postNote(thread, "an answer");
    const posted = fake.live({ kind: "review_comment" }).find((c) => c.body === "an answer")!;
    expect(note).toEqual({ id: String(posted.id), type: "review_comment" });
    expect(posted.inReplyTo).toBe(root.id);
    expect(paths("POST")).toEqual([`/repos/${REPO}/pulls/5/comments/${root.id}/replies`]);
    expect(fake.live({ kind: "issue_comment" })).toHaveLength(0);
  });

  it("finds only the app's own comment holding the marker, across pages", async () => {
    const marker = "<!-- forgebot:reply session=7 -->";
    const c = client();
    fake.addComment({ repo: REPO, number: 17, body: `pasted by a human ${marker}`, author: "mallory", createdAt: ago(5000) });
    expect(await c.findNoteByMarker(ISSUE, marker)).toBeNull();
    for (let i = 0; i < 150; i++) fake.addComment({ repo: REPO, number: 17, body: `filler ${i}`, createdAt: ago(4000) });
    const ours = await c.postNote(ISSUE, `reply\n\n${marker}`);
    expect(await c.findNoteByMarker(ISSUE, marker)).toEqual(ours);
    const listed = fake.requests.filter((r) => r.method === "GET" && r.path === `/repos/${REPO}/issues/17/comments`);
    // 152 comments oldest first: ours is on the second page of 100.
    expect(listed.slice(-2).map((r) => new URLSearchParams(r.query).get("page") ?? "1")).toEqual(["1", "2"]);
    expect(new URLSearchParams(listed.at(-1)!.query).get("per_page")).toBe("100");
  });

  it("looks in the review comments of a review thread, and only at the app's own", async () => {
    const marker = "<!-- forgebot:started session=9 -->";
    const root = fake.addComment({ repo: REPO, number: 5, kind: "review_comment", body: `quoting ${marker}`, author: "octocat", createdAt: ago(1000) });
    const thread = reviewThread(root.id);
    const c = client(thread);
    expect(await c.findNoteByMarker(thread, marker)).toBeNull();
    const ours = await c.postNote(thread, `Started\n\n${marker}`);
    expect(await c.findNoteByMarker(thread, marker)).toEqual(ours);
    expect(paths("GET").every((p) => p === `/repos/${REPO}/pulls/5/comments`)).toBe(true);
  });

  it("asks only for comments since a minute before `since`", async () => {
    const marker = "<!-- forgebot:started session=8 -->";
    fake.addComment({ repo: REPO, number: 17, body: `Started\n\n${marker}`, createdAt: ago(3 * 3600_000) });
    const since = new Date();
    expect(await client().findNoteByMarker(ISSUE, marker, since)).toBeNull();
    expect(new URLSearchParams(fake.requests.at(-1)!.query).get("since")).toBe(new Date(since.getTime() - 60_000).toISOString());
    expect(await client().findNoteByMarker(ISSUE, marker, new Date(Date.now() - 4 * 3600_000))).toEqual({ id: String(fake.comments[0]!.id), type: "issue_comment" });
  });

  it("deletes issue comments and review comments by their own routes; one already gone is a ForgeApiError 404", async () => {
    const c = client(PR);
    const issueNote = await c.postNote(PR, "a");
    const root = fake.addComment({ repo: REPO, number: 5, kind: "review_comment", body: "root", author: "octocat", createdAt: ago(1000) });
    const reviewNote = await c.postNote(reviewThread(root.id), "b");
    await c.deleteNote(PR, issueNote);
    await c.deleteNote(PR, reviewNote);
    expect(paths("DELETE")).toEqual([`/repos/${REPO}/issues/comments/${issueNote.id}`, `/repos/${REPO}/pulls/comments/${reviewNote.id}`]);
    expect(fake.live().map((n) => n.body)).toEqual(["root"]);
    for (const note of [issueNote, reviewNote]) {
      const again = await c.deleteNote(PR, note).catch((err: unknown) => err);
      expect(again).toBeInstanceOf(ForgeApiError);
      expect((again as ForgeApiError).status).toBe(404);
    }
  });

  it("a server error on a post is a ForgeApiError with the status and the call that failed", async () => {
    fake.interceptors.push((r) => (r.method === "POST" ? [502, { message: "Bad Gateway" }] : undefined));
    const err = await client().postNote(ISSUE, "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForgeApiError);
    expect(err).toMatchObject({ status: 502, message: "GitHub comment failed (502)", retryAfterMs: undefined });
    expect((err as ForgeApiError).cause).toMatchObject({ status: 502 });
  });

  it("a rate-limited post carries GitHub's Retry-After for the write budget", async () => {
    fake.interceptors.push((r) => (r.method === "POST" ? [429, { message: "Too Many Requests" }, { "retry-after": "3" }] : undefined));
    await expect(client().postNote(ISSUE, "x")).rejects.toMatchObject({ name: "ForgeApiError", status: 429, retryAfterMs: 3000 });
    fake.interceptors = [(r) => (r.method === "POST" ? [403, { message: "You have exceeded a secondary rate limit." }] : undefined)];
    await expect(client().postNote(ISSUE, "x")).rejects.toMatchObject({ status: 403, retryAfterMs: 60_000 });
  });
});

describe("GitHub client: permission", () => {
  const cases: [string, string, boolean][] = [
    ["admin", "admin", true],
    ["maintain", "maintain", true],
    ["write", "write", true],
    ["triage", "triage", false],
    ["read", "read", false],
    ["no access", "none", false],
    ["a custom role based on write", "release-manager", true],
    ["a custom role based on read", "auditor", false],
  ];
  it.each(cases)("%s (role %s) may use the bot: %s", async (_name, role, allowed) => {
    fake.customRoles.set("release-manager", "write");
    fake.customRoles.set("auditor", "read");
    fake.permissions.set("dev", role);
    expect(await client().canUseBot({ id: "42", login: "dev" })).toBe(allowed);
    expect(fake.requests.at(-1)!.path).toBe(`/repos/${REPO}/collaborators/dev/permission`);
  });

  it("allowed roles are configurable: triage may use the bot when listed, by its precise role name", async () => {
    fake.permissions.set("triager", "triage");
    fake.permissions.set("reader", "read");
    const c = client(ISSUE, [...ALLOWED, "triage"]);
    expect(await c.canUseBot({ id: "1", login: "triager" })).toBe(true);
    expect(await c.canUseBot({ id: "2", login: "reader" })).toBe(false);
  });

  it("a user GitHub does not know (404) may not", async () => {
    fake.interceptors.push((r) => (r.path.endsWith("/permission") ? [404, { message: "Not Found" }] : undefined));
    expect(await client().canUseBot({ id: "3", login: "ghost" })).toBe(false);
  });

  it.each([500, 502, 503])("a server error (%s) is not a denial: it throws", async (status) => {
    fake.interceptors.push((r) => (r.path.endsWith("/permission") ? [status, { message: "boom" }] : undefined));
    await expect(client().canUseBot({ id: "42", login: "dev" })).rejects.toMatchObject({ name: "ForgeApiError", status });
  });
});

describe("githubRetryAfterMs", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const err = (status: number, headers: Record<string, string>, message = "") => ({ status, message, response: { headers } });

  it("reads Retry-After in seconds", () => {
    expect(githubRetryAfterMs(err(429, { "retry-after": "7" }), now)).toBe(7000);
    expect(githubRetryAfterMs(err(403, { "retry-after": "1" }, "secondary rate limit"), now)).toBe(1000);
  });

  it("waits for x-ratelimit-reset once the primary limit is spent, at least a second", () => {
    expect(githubRetryAfterMs(err(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(now / 1000 + 42) }), now)).toBe(42_000);
    expect(githubRetryAfterMs(err(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(now / 1000 - 5) }), now)).toBe(1000);
    expect(githubRetryAfterMs(err(403, { "x-ratelimit-remaining": "12", "x-ratelimit-reset": String(now / 1000 + 42) }), now)).toBeUndefined();
  });

  it("a secondary limit or a 429 without a time waits a minute", () => {
    expect(githubRetryAfterMs(err(403, {}, "You have exceeded a secondary rate limit. Please wait."), now)).toBe(60_000);
    expect(githubRetryAfterMs(err(429, {}), now)).toBe(60_000);
  });

  it("any other answer is no rate limit", () => {
    expect(githubRetryAfterMs(err(403, {}, "Resource not accessible by integration"), now)).toBeUndefined();
    expect(githubRetryAfterMs(err(500, {}), now)).toBeUndefined();
    expect(githubRetryAfterMs({}, now)).toBeUndefined();
  });
});

describe("call", () => {
  it("passes a result through", async () => {
    await expect(call("list comments", async () => [1, 2])).resolves.toEqual([1, 2]);
  });

  it.each([
    [404, {}, undefined],
    [500, {}, undefined],
    [429, { "retry-after": "2" }, 2000],
    [403, { "retry-after": "5" }, 5000],
  ] as const)("wraps a %s into a ForgeApiError with the status and, for rate limits, the wait", async (status, headers, retryAfterMs) => {
    const cause = Object.assign(new Error("request failed"), { status, response: { headers } });
    const err = await call("delete comment", async () => Promise.reject(cause)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForgeApiError);
    expect(err).toMatchObject({ message: `GitHub delete comment failed (${status})`, status, retryAfterMs, cause });
  });

  it("a failure without a status (the network) keeps no status", async () => {
    const cause = new Error("socket hang up");
    const err = await call("comment", async () => Promise.reject(cause)).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "ForgeApiError", message: "GitHub comment failed", status: undefined, cause });
  });
});
