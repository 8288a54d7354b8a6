import { afterAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { ProbotOctokit } from "probot";
import { createGitHubClient } from "../../../src/forges/github/client.js";
import { createGitLabApi } from "../../../src/forges/gitlab/api.js";
import { createGitLabClient } from "../../../src/forges/gitlab/client.js";
import { createGitLabRequesterFn } from "../../../src/forges/gitlab/requester.js";
import { ForgeApiError, type Actor, type ForgeClient, type ForgeName, type ThreadRef } from "../../../src/sessions/forge-port.js";
import { TestOctokit } from "../../helpers/bot.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";

/**
 * What every ForgeClient must do for the lifecycle, written once and run against the GitHub
 * and the GitLab client, each over its fake forge behind nock: a table of scenarios × a list of
 * forge harnesses.
 */

/** Where a note sits: in the thread itself, or in the reply-to thread rooted at `root`. */
type Placement = "thread" | `reply:${string}`;
type StoredNote = { id: string; body: string; placement: Placement; deleted: boolean };
type Role = "writer" | "reader" | "non-member";

interface ClientHarness {
  readonly forge: ForgeName;
  /** A fresh fake behind nock. */
  reset(): void;
  /** A change request thread; every scenario gets its own number. */
  thread(number: number): ThreadRef;
  /** A reply-to thread (a review thread, a discussion) in `thread`, rooted at a person's comment. */
  replyThread(thread: ThreadRef): { thread: ThreadRef; placement: Placement };
  client(thread: ThreadRef): ForgeClient;
  /** A person's comment in the thread itself. */
  seedHumanNote(thread: ThreadRef, body: string): void;
  /** `actor` gets a role on the repository: one that may write, one that may only read, none. */
  seedMember(actor: Actor, role: Role): void;
  /** The permission check answers `status`. */
  failPermissionCheck(status: number): void;
  /** The notes the bot wrote in `thread`, deleted ones included, oldest first. */
  botNotes(thread: ThreadRef): StoredNote[];
}

function githubHarness(): ClientHarness {
  let fake = new FakeGitHub();
  const repo = "octo-org/hello-world";
  const roles: Record<Role, string> = { writer: "write", reader: "read", "non-member": "none" };
  return {
    forge: "github",
    reset() {
      fake = new FakeGitHub();
      nockGitHub(fake);
    },
    thread: (number) => ({ forge: "github", host: "github.com", repoId: "1296269", repoPath: repo, installationId: 4242, kind: "change_request", number }),
    replyThread(thread) {
      const root = fake.addComment({ repo, number: thread.number, kind: "review_comment", body: "Why this line?", author: "octocat", createdAt: new Date().toISOString(), path: "src/a.ts" });
      return { thread: { ...thread, replyTo: { type: "review_thread", rootCommentId: String(root.id) } }, placement: `reply:${root.id}` };
    },
    client: (thread) => createGitHubClient(new TestOctokit({ auth: "ghs_test" }) as unknown as ProbotOctokit, thread, ["admin", "maintain", "write"]),
    seedHumanNote(thread, body) {
      fake.addComment({ repo, number: thread.number, body, author: "octocat", createdAt: new Date().toISOString() });
    },
    seedMember(actor, role) {
      fake.permissions.set(actor.login, roles[role]);
    },
    failPermissionCheck(status) {
      fake.interceptors.push((r) => (r.path.endsWith("/permission") ? [status, { message: "Server Error" }] : undefined));
    },
    botNotes: (thread) =>
      fake.comments
        .filter((c) => c.number === thread.number && !c.author)
        .map((c) => ({ id: String(c.id), body: c.body, deleted: c.deleted, placement: c.kind === "review_comment" ? `reply:${c.inReplyTo}` : "thread" })),
  };
}

function gitlabHarness(): ClientHarness {
  let fake = new FakeGitLab();
  const levels: Record<Role, number> = { writer: 30, reader: 20, "non-member": 0 };
  let nextNoteId = 1000;
  return {
    forge: "gitlab",
    reset() {
      fake = new FakeGitLab();
      nockGitLab(fake);
    },
    thread: (number) => ({ forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number }),
    replyThread(thread) {
      const root = fake.seedNote({ id: nextNoteId++, projectId: 5, noteable: "merge_requests", iid: thread.number, body: "Why this line?", type: "DiscussionNote" });
      return { thread: { ...thread, replyTo: { type: "discussion", discussionId: root.discussionId } }, placement: `reply:${root.discussionId}` };
    },
    client(thread) {
      // Retries without waiting: a failure the transport gives up on is what the client sees.
      const requesterFn = createGitLabRequesterFn({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, sleep: async () => undefined });
      const api = createGitLabApi({ url: FAKE_GITLAB_URL, token: FAKE_GITLAB_TOKEN, requesterFn, queryTimeoutMs: 5000 });
      return createGitLabClient(api, thread, { minAccessLevel: 30, selfUserId: String(fake.bot.id) });
    },
    seedHumanNote(thread, body) {
      fake.seedNote({ id: nextNoteId++, projectId: 5, noteable: "merge_requests", iid: thread.number, body });
    },
    seedMember(actor, role) {
      fake.members.set(Number(actor.id), levels[role]);
    },
    failPermissionCheck(status) {
      fake.interceptors.push((r) => (r.path.includes("/members/") ? [status, { message: `${status} Server Error` }] : undefined));
    },
    botNotes: (thread) =>
      fake
        .botNotes({ iid: thread.number })
        .map((n) => ({ id: String(n.id), body: n.body, deleted: n.deleted, placement: n.type === null ? "thread" : `reply:${n.discussionId}` })),
  };
}

const harnesses = [githubHarness(), gitlabHarness()];
const marker = (session: number) => `<!-- forgebot:reply session=${session} -->`;
const person = (id: string, login: string): Actor => ({ id, login });

type Scenario = { name: string; run(h: ClientHarness, thread: ThreadRef): Promise<void> };

const scenarios: Scenario[] = [
  {
    name: "posts a note in the thread and returns where it is",
    async run(h, thread) {
      const note = await h.client(thread).postNote(thread, "hello");
      expect(h.botNotes(thread)).toEqual([{ id: note.id, body: "hello", placement: "thread", deleted: false }]);
    },
  },
  {
    name: "posts a note in a reply-to thread into that thread",
    async run(h, thread) {
      const reply = h.replyThread(thread);
      const note = await h.client(reply.thread).postNote(reply.thread, "answered in place");
      expect(h.botNotes(thread)).toEqual([{ id: note.id, body: "answered in place", placement: reply.placement, deleted: false }]);
    },
  },
  {
    name: "finds its own note by marker, never a person's note holding the same marker",
    async run(h, thread) {
      const client = h.client(thread);
      h.seedHumanNote(thread, `look what I can paste: ${marker(7)}`);
      expect(await client.findNoteByMarker(thread, marker(7))).toBeNull();
      const ours = await client.postNote(thread, `The answer.\n\n${marker(7)}`);
      await client.postNote(thread, `Another session.\n\n${marker(8)}`);
      expect(await client.findNoteByMarker(thread, marker(7))).toEqual(ours);
    },
  },
  {
    name: "deletes its note; deleting it again is a ForgeApiError 404",
    async run(h, thread) {
      const client = h.client(thread);
      const note = await client.postNote(thread, "Started session 3.");
      await client.deleteNote(thread, note);
      expect(h.botNotes(thread)).toEqual([expect.objectContaining({ id: note.id, deleted: true })]);
      expect(await client.findNoteByMarker(thread, "Started session 3.")).toBeNull();
      const again = await client.deleteNote(thread, note).catch((err: unknown) => err);
      expect(again).toBeInstanceOf(ForgeApiError);
      expect((again as ForgeApiError).status).toBe(404);
    },
  },
  {
    name: "lets a writer use the bot, and neither a reader nor a non-member",
    async run(h, thread) {
      const [writer, reader, outsider] = [person("31", "wendy"), person("32", "rita"), person("33", "otto")];
      h.seedMember(writer, "writer");
      h.seedMember(reader, "reader");
      h.seedMember(outsider, "non-member");
      const client = h.client(thread);
      expect([await client.canUseBot(writer), await client.canUseBot(reader), await client.canUseBot(outsider)]).toEqual([true, false, false]);
    },
  },
  {
    name: "a server error on the permission check throws instead of denying",
    async run(h, thread) {
      h.failPermissionCheck(503);
      const err = await h.client(thread).canUseBot(person("31", "wendy")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForgeApiError);
      expect((err as ForgeApiError).status).toBe(503);
    },
  },
];

beforeEach(() => {
  nock.cleanAll();
  for (const h of harnesses) h.reset();
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe.each(harnesses.map((h) => [h.forge, h] as const))("forge client contract: %s", (_forge, harness) => {
  it.each(scenarios.map((s, i) => [s.name, s, 20 + i] as const))("%s", async (_name, scenario, number) => {
    await scenario.run(harness, harness.thread(number));
  });
});
