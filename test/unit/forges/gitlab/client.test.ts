import { afterAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createServer } from "node:http";
import nock from "nock";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../../../src/sessions/forge-port.js";
import { createGitLabApi } from "../../../../src/forges/gitlab/api.js";
import { createGitLabClient } from "../../../../src/forges/gitlab/client.js";
import { createGitLabRequesterFn, retryAfterMs, type TransportOptions } from "../../../../src/forges/gitlab/requester.js";
import { forgeRequests } from "../../../../src/metrics/index.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../../helpers/fake-gitlab.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../../helpers/nock-gitlab.js";

const MR: ThreadRef = { forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number: 1 };
const ISSUE: ThreadRef = { ...MR, kind: "issue", number: 17 };

let fake: FakeGitLab;
let delays: number[];

function client(thread: ThreadRef = MR, transport: Partial<TransportOptions> = {}, minAccessLevel = 30): ForgeClient {
  const requesterFn = createGitLabRequesterFn({
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 60_000 },
    sleep: async (ms) => void delays.push(ms),
    ...transport,
  });
  const api = createGitLabApi({ url: FAKE_GITLAB_URL, token: FAKE_GITLAB_TOKEN, requesterFn, queryTimeoutMs: 5000 });
  return createGitLabClient(api, thread, { minAccessLevel, selfUserId: String(fake.bot.id) });
}

async function requestCount(outcome: string): Promise<number> {
  const metric = await forgeRequests.get();
  return metric.values.find((v) => v.labels.forge === "gitlab" && v.labels.outcome === outcome)?.value ?? 0;
}

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitLab();
  nockGitLab(fake);
  delays = [];
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitLab client: notes", () => {
  it("posts into the note's discussion by iid", async () => {
    const trigger = fake.seedNote({ id: 1244, projectId: 5, noteable: "merge_requests", iid: 1 });
    const thread = { ...MR, replyTo: { type: "discussion" as const, discussionId: trigger.discussionId } };
    const note = await client(thread).postNote(thread, "hello");
    const posted = fake.botNotes()[0]!;
    expect(note).toEqual({ id: String(posted.id), type: "note" });
    expect(posted).toMatchObject({ discussionId: trigger.discussionId, iid: 1, body: "hello", type: "DiscussionNote", internal: false });
    expect(fake.writes().map((r) => `${r.method} ${r.path}`)).toEqual([`POST /projects/5/merge_requests/1/discussions/${trigger.discussionId}/notes`]);
  });

  it("a reply in an internal discussion is internal; a top-level note asks for internal itself", async () => {
    const trigger = fake.seedNote({ id: 1251, projectId: 5, noteable: "merge_requests", iid: 1, internal: true });
    const inDiscussion = { ...MR, internal: true, replyTo: { type: "discussion" as const, discussionId: trigger.discussionId } };
    await client(inDiscussion).postNote(inDiscussion, "in the discussion");
    const topLevel = { ...ISSUE, internal: true };
    await client(topLevel).postNote(topLevel, "top level");
    expect(fake.botNotes().map((n) => [n.body, n.internal])).toEqual([
      ["in the discussion", true],
      ["top level", true],
    ]);
    expect(fake.botNotes()[1]!.requestedInternal).toBe(true);
    expect(fake.writes()[1]!.path).toBe("/projects/5/issues/17/notes");
  });

  it("a discussion that is gone falls back to a top-level note, still internal", async () => {
    const thread = { ...MR, internal: true, replyTo: { type: "discussion" as const, discussionId: "0".repeat(40) } };
    await client(thread).postNote(thread, "fallback");
    expect(fake.writes().map((r) => r.path)).toEqual([`/projects/5/merge_requests/1/discussions/${"0".repeat(40)}/notes`, "/projects/5/merge_requests/1/notes"]);
    expect(fake.botNotes()).toMatchObject([{ body: "fallback", internal: true, requestedInternal: true }]);
  });

  it("finds only the bot user's note holding the marker, across pages", async () => {
    const marker = "<!-- forgebot:reply session=7 -->";
    const c = client();
    fake.seedNote({ id: 10, projectId: 5, noteable: "merge_requests", iid: 1, body: `pasted by a human ${marker}` });
    expect(await c.findNoteByMarker(MR, marker)).toBeNull();
    const ours = await c.postNote(MR, `reply\n\n${marker}`);
    for (let i = 0; i < 150; i += 1) fake.seedNote({ id: 100_000 + i, projectId: 5, noteable: "merge_requests", iid: 1, body: `filler ${i}`, author: fake.bot });
    expect(await c.findNoteByMarker(MR, marker)).toEqual(ours);
    const listed = fake.requests.filter((r) => r.method === "GET" && r.path === "/projects/5/merge_requests/1/notes");
    expect(listed.at(-1)!.query.get("page")).toBe("2");
    expect(listed.at(-1)!.query.get("sort")).toBe("desc");
  });

  it("stops looking once a page is older than `since`", async () => {
    const c = client();
    const marker = "<!-- forgebot:started session=8 -->";
    await c.postNote(MR, marker);
    for (let i = 0; i < 220; i += 1) fake.seedNote({ id: 100_000 + i, projectId: 5, noteable: "merge_requests", iid: 1, body: `old ${i}`, author: fake.bot });
    for (const n of fake.notes) n.createdAt = new Date(Date.now() - 3 * 3600_000).toISOString();
    const before = fake.requests.length;
    expect(await c.findNoteByMarker(MR, marker, new Date())).toBeNull();
    expect(fake.requests.length - before).toBe(1);
  });

  it("deletes by iid on merge requests and issues; a note already gone is a ForgeApiError 404", async () => {
    const mrNote = await client().postNote(MR, "a");
    const issueNote = await client(ISSUE).postNote(ISSUE, "b");
    await client().deleteNote(MR, mrNote);
    await client(ISSUE).deleteNote(ISSUE, issueNote);
    expect(fake.writes().filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([
      `/projects/5/merge_requests/1/notes/${mrNote.id}`,
      `/projects/5/issues/17/notes/${issueNote.id}`,
    ]);
    const again = await client().deleteNote(MR, mrNote).catch((err: unknown) => err);
    expect(again).toBeInstanceOf(ForgeApiError);
    expect((again as ForgeApiError).status).toBe(404);
  });
});

describe("GitLab client: permission", () => {
  const cases: [string, number, number, boolean][] = [
    ["a Developer", 30, 30, true],
    ["a Maintainer", 40, 30, true],
    ["a Reporter", 20, 30, false],
    ["a non-member (404)", 0, 30, false],
    ["a Developer when Maintainer is required", 30, 40, false],
  ];
  it.each(cases)("%s (level %s, minimum %s) → %s", async (_name, level, min, allowed) => {
    fake.members.set(42, level);
    expect(await client(MR, {}, min).canUseBot({ id: "42", login: "dev" })).toBe(allowed);
    expect(fake.requests.at(-1)!.path).toBe("/projects/5/members/all/42");
  });

  it("a server error is not a denial: it throws", async () => {
    fake.interceptors.push((r) => (r.path.includes("/members/") ? [500, { message: "boom" }] : undefined));
    await expect(client().canUseBot({ id: "42", login: "dev" })).rejects.toMatchObject({ name: "ForgeApiError", status: 500 });
  });
});

describe("GitLab transport: retries and limits", () => {
  it("a read refused with 429 waits as long as Retry-After asks, then reads once more", async () => {
    let refused = 0;
    fake.interceptors.push((r) => (r.method === "GET" && refused++ === 0 ? [429, { message: "Too Many Requests" }, { "retry-after": "2" }] : undefined));
    const [limitedBefore, okBefore] = [await requestCount("rate_limited"), await requestCount("ok")];
    expect(await client().canUseBot({ id: "3", login: "u" })).toBe(true);
    expect(delays).toEqual([2000]);
    expect(await requestCount("rate_limited")).toBe(limitedBefore + 1);
    expect(await requestCount("ok")).toBe(okBefore + 1);
  });

  it("a write refused with 429 is not retried here: the write budget gets GitLab's Retry-After", async () => {
    fake.interceptors.push((r) => (r.method === "POST" ? [429, { message: "Too Many Requests" }, { "retry-after": "3" }] : undefined));
    await expect(client().postNote(MR, "never")).rejects.toMatchObject({ name: "ForgeApiError", status: 429, retryAfterMs: 3000 });
    expect(delays).toEqual([]);
    expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(1);
  });

  it("gives a read up after maxAttempts with the 429 status, backing off when GitLab names no time", async () => {
    fake.interceptors.push(() => [429, { message: "Too Many Requests" }]);
    await expect(client().canUseBot({ id: "3", login: "u" })).rejects.toMatchObject({ status: 429, retryAfterMs: undefined });
    expect(delays).toEqual([100, 200]);
    expect(fake.requests).toHaveLength(3);
  });

  it("never repeats a POST after a 502 (the note may exist), but repeats a GET", async () => {
    let getFailures = 0;
    fake.interceptors.push((r) => (r.method === "POST" ? [502, "Bad Gateway"] : undefined));
    fake.interceptors.push((r) => (r.method === "GET" && getFailures++ < 1 ? [502, "Bad Gateway"] : undefined));
    await expect(client().postNote(MR, "x")).rejects.toMatchObject({ status: 502 });
    expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(await client().canUseBot({ id: "3", login: "u" })).toBe(true);
    expect(fake.requests.filter((r) => r.method === "GET")).toHaveLength(2);
  });

  it("parses Retry-After as seconds or an HTTP date, and RateLimit-Reset", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(retryAfterMs(new Headers({ "retry-after": "7" }), now)).toBe(7000);
    expect(retryAfterMs(new Headers({ "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ "ratelimit-reset": String(now / 1000 + 12) }), now)).toBe(12_000);
    expect(retryAfterMs(new Headers({}), now)).toBeNull();
  });

  it("each attempt has its own deadline: a wait longer than it does not fail the next attempt", async () => {
    let refused = 0;
    fake.interceptors.push((r) => (r.method === "GET" && refused++ === 0 ? [429, { message: "slow down" }, { "retry-after": "1" }] : undefined));
    const c = client(MR, { attemptTimeoutMs: 100, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 150))) });
    expect(await c.canUseBot({ id: "3", login: "u" })).toBe(true);
    expect(refused).toBe(2);
  });

  it("an attempt GitLab never answers ends as a ForgeApiError without a status", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    try {
      const requesterFn = createGitLabRequesterFn({ attemptTimeoutMs: 100 });
      const api = createGitLabApi({ url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, token: "t", requesterFn, queryTimeoutMs: null });
      const err = await createGitLabClient(api, MR, { minAccessLevel: 30, selfUserId: "1" }).deleteNote(MR, { id: "1", type: "note" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForgeApiError);
      expect((err as ForgeApiError).status).toBeUndefined();
      expect(((err as ForgeApiError).cause as Error).message).toContain("timed out");
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("a wrong token is a 401 ForgeApiError, not retried", async () => {
    fake.token = "another";
    await expect(client().postNote(MR, "x")).rejects.toMatchObject({ status: 401 });
    expect(fake.requests).toHaveLength(1);
  });
});
