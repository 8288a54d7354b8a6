import type { ForgeName } from "../../../src/sessions/forge-port.js";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";
import { githubExample } from "../../helpers/payloads.js";

/**
 * One forge as the contract suite sees it: a fake behind nock, a way to write a mention the way
 * that forge's webhook would deliver it, and a forge-neutral view of what the bot wrote back.
 */
export type Person = { id: string; login: string };
export type BotNote = { id: string; body: string; deleted: boolean; placement: string };

export interface ForgeHarness {
  readonly forge: ForgeName;
  /** The person who writes mentions unless a scenario says otherwise (allowed to use the bot). */
  readonly member: Person;
  /** Environment the bot needs for this forge. */
  readonly env: Record<string, string>;
  /** A fresh fake behind nock. */
  reset(): void;
  /** Delivers a mention in thread `thread` (an issue or merge request number), a new comment each time. */
  mention(input: { thread: number; body: string; author?: Person; deliveryKey?: string }): Promise<Response>;
  /** Where every answer to a mention in `thread` must go. */
  placement(thread: number): string;
  /** Notes the bot wrote in `thread`, deleted ones included, oldest first. */
  botNotes(thread: number): BotNote[];
  /** Forge writes so far, in order. */
  writes(): ("post" | "delete")[];
  /** `person` may not use the bot. */
  deny(person: Person): void;
  /** Every delete fails with a server error. */
  failDeletes(): void;
}

let nextCommentId = 7_000_000;
let nextDelivery = 0;

export function githubHarness(webhookUrl: () => string): ForgeHarness {
  let fake = new FakeGitHub();
  const member = { id: "21031067", login: "Codertocat" };
  return {
    forge: "github",
    member,
    env: {},
    reset() {
      fake = new FakeGitHub();
      nockGitHub(fake);
    },
    async mention({ thread, body, author = member, deliveryKey = `gh-${++nextDelivery}` }) {
      const payload = githubExample("issue_comment", "created", (p) => {
        p.issue.number = thread;
        p.comment.id = nextCommentId++;
        p.comment.body = body;
        p.comment.user = { ...p.comment.user, id: Number(author.id), login: author.login, type: "User" };
        p.sender = { ...p.sender, id: Number(author.id), login: author.login, type: "User" };
      });
      const text = JSON.stringify(payload);
      return fetch(webhookUrl(), { method: "POST", headers: await signedHeaders("issue_comment", deliveryKey, text), body: text });
    },
    placement: () => "issue",
    botNotes: (thread) =>
      fake.comments
        .filter((c) => c.number === thread)
        .map((c) => ({ id: String(c.id), body: c.body, deleted: c.deleted, placement: c.kind === "issue_comment" ? "issue" : `review:${c.inReplyTo}` })),
    writes: () => fake.writes().map((r) => (r.method === "DELETE" ? "delete" : "post")),
    deny(person) {
      fake.permissions.set(person.login, "read");
    },
    failDeletes() {
      fake.interceptors.push((r) => (r.method === "DELETE" ? [500, { message: "Server Error" }] : undefined));
    },
  };
}

export const GITLAB_SECRET = "contract-gitlab-secret";

export function gitlabHarness(webhookUrl: () => string): ForgeHarness {
  let fake = new FakeGitLab();
  const member = { id: "1", login: "root" };
  // Mentions in one merge request are replies in one discussion, so answers have one right place.
  const discussion = (thread: number) => thread.toString(16).padStart(40, "d");
  return {
    forge: "gitlab",
    member,
    // A note budget no scenario reaches, so limits never slow the contract down.
    env: { GITLAB_URL: FAKE_GITLAB_URL, GITLAB_TOKEN: FAKE_GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET: GITLAB_SECRET, GITLAB_NOTES_PER_MINUTE: "10000" },
    reset() {
      fake = new FakeGitLab();
      nockGitLab(fake);
    },
    async mention({ thread, body, author = member, deliveryKey = `gl-${++nextDelivery}` }) {
      const id = nextCommentId++;
      const payload = gitlabPayload("note-merge-request.docs-example", (p) => {
        p.merge_request.iid = thread;
        p.user = { ...p.user, id: Number(author.id), username: author.login };
        Object.assign(p.object_attributes, { id, note: body, author_id: Number(author.id), discussion_id: discussion(thread), type: "DiscussionNote" });
      });
      fake.seedNote({ id, projectId: 5, noteable: "merge_requests", iid: thread, body, discussionId: discussion(thread), author: { id: Number(author.id), username: author.login } });
      return fetch(webhookUrl(), {
        method: "POST",
        headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": GITLAB_SECRET, "idempotency-key": deliveryKey },
        body: JSON.stringify(payload),
      });
    },
    placement: (thread) => `discussion:${discussion(thread)}`,
    botNotes: (thread) =>
      fake.botNotes({ iid: thread }).map((n) => ({ id: String(n.id), body: n.body, deleted: n.deleted, placement: `discussion:${n.discussionId}` })),
    writes: () => fake.writes().map((r) => (r.method === "DELETE" ? "delete" : "post")),
    deny(person) {
      fake.members.set(Number(person.id), 0);
    },
    failDeletes() {
      fake.interceptors.push((r) => (r.method === "DELETE" ? [500, { message: "500 Internal Server Error" }] : undefined));
    },
  };
}
