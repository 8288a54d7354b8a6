import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { Flow } from "../../../src/sessions/flow.js";
import { gitlabPayload, type GitLabFixture } from "../../fixtures/gitlab/payloads.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab, type FakeNote } from "../../helpers/fake-gitlab.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";
import { waitForQuiet } from "../../helpers/quiet.js";

const SECRET = "gitlab-hook-secret";

/** A flow that answers with the prompt it was given. */
const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let bot: TestBot;
let fake: FakeGitLab;
let delivery = 0;

async function post(payload: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${bot.baseUrl}/api/gitlab/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": `idem-${++delivery}`, ...headers },
    body: JSON.stringify(payload),
  });
}

async function count(table: "sessions" | "webhook_deliveries"): Promise<number> {
  const { rows } = await database.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

/** The trigger as GitLab stores it, so replies into its discussion find it. */
function seedTrigger(payload: Record<string, any>): FakeNote {
  const a = payload.object_attributes;
  const noteable = a.noteable_type === "MergeRequest" ? "merge_requests" : "issues";
  const iid = noteable === "merge_requests" ? payload.merge_request.iid : payload.issue.iid;
  return fake.seedNote({ id: a.id, projectId: payload.project.id, noteable, iid, body: a.note, type: a.type ?? null, internal: a.internal === true, ...(a.discussion_id ? { discussionId: a.discussion_id } : {}) });
}

function mentionPayload(fixture: GitLabFixture, noteId: number, note: string, patch: (p: any) => void = () => undefined): Record<string, any> {
  return gitlabPayload(fixture, (p) => {
    p.object_attributes.id = noteId;
    p.object_attributes.note = note;
    patch(p);
  });
}

const reply = (n: FakeNote) => n.body.includes("forgebot:reply");
const started = (n: FakeNote) => n.body.includes("forgebot:started");

beforeAll(async () => {
  database = await createTestDatabase();
  fake = new FakeGitLab();
  nockGitLab(fake);
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    // A budget no test reaches: throttling is the write budget's and the transport's own tests' business.
    env: { GITLAB_URL: FAKE_GITLAB_URL, GITLAB_TOKEN: FAKE_GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET: SECRET, GITLAB_NOTES_PER_MINUTE: "10000" },
  });
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitLab();
  nockGitLab(fake);
});

describe("GitLab lifecycle on the docs' example payloads", () => {
  const threads: [string, GitLabFixture, number, string][] = [
    ["Comment on a merge request", "note-merge-request.docs-example", 1244, "/projects/5/merge_requests/1"],
    ["Comment on an issue", "note-issue.docs-example", 1241, "/projects/5/issues/17"],
  ];
  it.each(threads)("%s: started note in the discussion, deleted, reply in the same discussion", async (_name, fixture, noteId, base) => {
    // Real GitLab sends the note's discussion_id; the docs' example leaves it out.
    const payload = mentionPayload(fixture, noteId, "@forgebot what is this about?", (p) => (p.object_attributes.discussion_id = `d${noteId}`.padEnd(40, "0")));
    const trigger = seedTrigger(payload);
    expect((await post(payload)).status).toBe(202);

    const answer = await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    expect(answer.discussionId).toBe(trigger.discussionId);
    expect(answer.body).toContain("Echo: what is this about?");
    expect(answer.body).toMatch(/\[View session\]\(http:\/\/forgebot\.test\/sessions\/\d+\?sig=[\w-]+\)/);
    const note = fake.botNotes().find(started)!;
    expect(note.body).toMatch(/^Started session \d+ and will let you know when it's finished\./);
    expect(note.discussionId).toBe(trigger.discussionId);
    expect(note.deleted).toBe(true);

    expect(fake.writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST ${base}/discussions/${trigger.discussionId}/notes`,
      `DELETE ${base}/notes/${note.id}`,
      `POST ${base}/discussions/${trigger.discussionId}/notes`,
    ]);
    // The reply is on GitLab a moment before its id is saved.
    const rows = await waitFor("saved reply id", async () => {
      const result = await database.db.query("SELECT status, started_note_id, reply_note_id, thread_number, forge FROM sessions WHERE trigger_key = $1", [`note-gitlab.example.com-${noteId}`]);
      return result.rows[0]?.reply_note_id ? result.rows : null;
    });
    expect(rows).toEqual([{ status: "finished", started_note_id: String(note.id), reply_note_id: String(answer.id), thread_number: fixture.includes("issue") ? 17 : 1, forge: "gitlab" }]);
  });

  it("the docs' payload as printed (no discussion_id) is answered with top-level notes", async () => {
    const payload = mentionPayload("note-merge-request.docs-example", 3001, "@forgebot hello");
    expect((await post(payload)).status).toBe(202);
    const answer = await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    expect(fake.writes().filter((r) => r.method === "POST").map((r) => r.path)).toEqual(["/projects/5/merge_requests/1/notes", "/projects/5/merge_requests/1/notes"]);
    expect(fake.botNotes().find(started)?.deleted).toBe(true);
    expect(answer.body).toContain("Echo: hello");
  });

  it("a DiffNote mention is answered in its diff discussion", async () => {
    const payload = gitlabPayload("note-merge-request.diff-note");
    const trigger = seedTrigger(payload);
    expect(trigger.type).toBe("DiffNote");
    expect((await post(payload)).status).toBe(202);
    const answer = await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    expect(answer).toMatchObject({ discussionId: "4b7ab0d1a5c35f0a0cd3e9e0e05fd3a4b9a3c2f1", type: "DiffNote" });
    expect(fake.botNotes().find(started)).toMatchObject({ discussionId: trigger.discussionId, deleted: true });
    expect(fake.botNotes()).toHaveLength(2);
  });

  it("an internal note gets an internal started note and an internal reply", async () => {
    const payload = gitlabPayload("note-merge-request.internal");
    seedTrigger(payload);
    expect((await post(payload, { "x-gitlab-event": "Confidential Note Hook" })).status).toBe(202);
    await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    expect(fake.botNotes().map((n) => [started(n) ? "started" : "reply", n.internal])).toEqual([
      ["started", true],
      ["reply", true],
    ]);
  });

  it("an internal note whose payload has no discussion asks GitLab for internal notes itself", async () => {
    const payload = gitlabPayload("note-merge-request.internal", (p) => {
      p.object_attributes.id = 3002;
      delete p.object_attributes.discussion_id;
    });
    await post(payload, { "x-gitlab-event": "Confidential Note Hook" });
    await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    expect(fake.botNotes().map((n) => [n.internal, n.requestedInternal])).toEqual([
      [true, true],
      [true, true],
    ]);
  });
});

describe("GitLab webhook guards", () => {
  it("a wrong token or none → 401 and no session", async () => {
    const payload = mentionPayload("note-merge-request.docs-example", 4001, "@forgebot hi");
    const before = await count("sessions");
    expect((await post(payload, { "x-gitlab-token": "wrong" })).status).toBe(401);
    const res = await fetch(`${bot.baseUrl}/api/gitlab/webhooks`, { method: "POST", headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook" }, body: JSON.stringify(payload) });
    expect(res.status).toBe(401);
    await waitForQuiet(bot);
    expect(await count("sessions")).toBe(before);
    expect(fake.requests).toHaveLength(0);
  });

  it("the same Idempotency-Key 10 times makes one session, one started note, one reply", async () => {
    const payload = mentionPayload("note-merge-request.docs-example", 4002, "@forgebot once please");
    const before = await count("sessions");
    const statuses = await Promise.all(Array.from({ length: 10 }, () => post(payload, { "idempotency-key": "same-key" }).then((r) => r.status)));
    expect(statuses.every((s) => s === 202)).toBe(true);
    await waitFor("reply", () => fake.botNotes({ live: true }).find(reply));
    await waitForQuiet(bot);
    expect(await count("sessions")).toBe(before + 1);
    expect(fake.botNotes().filter(started)).toHaveLength(1);
    expect(fake.botNotes().filter(reply)).toHaveLength(1);
  });

  it("system notes, edits and the bot's own notes make no session", async () => {
    const ignored: [string, (p: any) => void][] = [
      ["system_note", (p) => (p.object_attributes.system = true)],
      ["edited", (p) => (p.object_attributes.action = "update")],
      ["self", (p) => (p.user = { ...p.user, id: fake.bot.id, username: "forgebot" })],
      ["bot_sender", (p) => (p.user = { ...p.user, id: 77, username: "project_5_bot_9f8e7d" })],
    ];
    const [sessions, deliveries] = [await count("sessions"), await count("webhook_deliveries")];
    for (const [reason, patch] of ignored) {
      const res = await post(mentionPayload("note-merge-request.docs-example", 4100 + ignored.length, "@forgebot do something", patch));
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { outcome: reason } });
    }
    await waitForQuiet(bot);
    expect(await count("sessions")).toBe(sessions);
    expect(await count("webhook_deliveries")).toBe(deliveries);
    expect(fake.writes()).toHaveLength(0);
  });

  it("events we do not handle are answered 200 at once", async () => {
    const res = await post({ object_kind: "push" }, { "x-gitlab-event": "Push Hook" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome: "unhandled_event" });
  });
});
