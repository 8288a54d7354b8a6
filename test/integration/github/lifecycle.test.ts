import { describe, expect, it } from "@jest/globals";
import { helpFlow } from "../../../src/agent/flows/help.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { githubExample } from "../../helpers/payloads.js";
import { waitFor } from "../../helpers/bot.js";
import { waitForQuiet } from "../../helpers/quiet.js";

/** A flow that answers with the prompt it was given, or a blank answer for "blank". */
const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: session.prompt === "blank" ? "   " : `Echo: ${session.prompt}` };
  },
};

const h = useGitHubBot({ flows: [echoFlow, helpFlow] });

async function post(event: string, payload: unknown, deliveryId?: string) {
  return h.post(event, payload, deliveryId);
}

async function sessionCount(): Promise<number> {
  const { rows } = await h.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
  return rows[0]!.n;
}

describe("GitHub lifecycle on the example payloads", () => {
  it("issue_comment.created: started note, run, note deleted, reply with the link", async () => {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.body = "@forgebot what does this issue ask for?";
    });
    const res = await post("issue_comment", payload);
    expect(res.status).toBe(202);

    const reply = await waitFor("reply", () => h.fake.live({ kind: "issue_comment" }).find((c) => c.body.includes("forgebot:reply")));
    expect(reply.number).toBe(payload.issue.number);
    expect(reply.body).toContain("Echo: what does this issue ask for?");
    expect(reply.body).toMatch(/\[View session\]\(http:\/\/forgebot\.test\/sessions\/\d+\?sig=[\w-]+\)/);

    const started = h.fake.comments.find((c) => c.body.includes("forgebot:started"));
    expect(started?.body).toMatch(/^Started session \d+ and will let you know when it's finished\./);
    expect(started?.body).toMatch(/<!-- forgebot:started session=\d+ -->/);
    expect(started?.deleted).toBe(true);

    // The reply is visible on the forge a moment before its id is recorded.
    const rows = await waitFor("reply recorded", async () => {
      const result = await h.database.db.query("SELECT status, started_note_id, reply_note_id FROM sessions");
      return result.rows[0]?.reply_note_id ? result.rows : null;
    });
    expect(rows).toEqual([{ status: "finished", started_note_id: String(started!.id), reply_note_id: String(reply.id) }]);
  });

  it("pull_request_review_comment.created: answered in the review thread", async () => {
    const payload = githubExample("pull_request_review_comment", "created", (p) => {
      p.comment.body = "Could you explain this hunk, @forgebot?";
      p.comment.in_reply_to_id = 111;
    });
    expect((await post("pull_request_review_comment", payload)).status).toBe(202);

    const reply = await waitFor("review reply", () => h.fake.live({ kind: "review_comment" }).find((c) => c.body.includes("forgebot:reply")));
    expect(reply.inReplyTo).toBe(111);
    expect(reply.number).toBe(payload.pull_request.number);
    const started = h.fake.comments.find((c) => c.kind === "review_comment" && c.body.includes("forgebot:started"));
    expect(started?.inReplyTo).toBe(111);
    expect(started?.deleted).toBe(true);
    expect(h.fake.live({ kind: "issue_comment" })).toHaveLength(0);
  });

  it("pull_request_review.submitted: review body answered as a pull request comment", async () => {
    const payload = githubExample("pull_request_review", "submitted", (p) => {
      p.review.body = "@forgebot help";
    });
    expect((await post("pull_request_review", payload)).status).toBe(202);
    const reply = await waitFor("reply", () => h.fake.live({ kind: "issue_comment" }).find((c) => c.body.includes("forgebot:reply")));
    expect(reply.number).toBe(payload.pull_request.number);
    expect(reply.body).toContain("@forgebot stop");
    expect(h.fake.comments.find((c) => c.body.includes("forgebot:started"))?.deleted).toBe(true);
  });

  it("a payload without an installation is answered through the app's installation on the repository", async () => {
    const payload = githubExample("issue_comment", "created", (p) => {
      delete p.installation;
      p.comment.id = 5_000_003;
      p.comment.body = "@forgebot no installation here";
    });
    expect((await post("issue_comment", payload)).status).toBe(202);
    const reply = await waitFor("reply", () => h.fake.live().find((c) => c.body.includes("forgebot:reply")));
    expect(reply.body).toContain("Echo: no installation here");
    expect(h.fake.requests.some((r) => r.path.endsWith(`/repos/${payload.repository.full_name}/installation`))).toBe(true);
    expect(h.fake.comments.find((c) => c.body.includes("forgebot:started"))?.deleted).toBe(true);
  });

  it("a blank result posts a reply holding only the link", async () => {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.id = 5_000_001;
      p.comment.body = "@forgebot blank";
    });
    await post("issue_comment", payload);
    const reply = await waitFor("reply", () => h.fake.live().find((c) => c.body.includes("forgebot:reply")));
    expect(reply.body.trim()).toMatch(/^\[View session\]\([^)]+\)\n\n<!-- forgebot:reply session=\d+ -->$/);
  });

  it("the same delivery 10 times makes one session, one started note, one reply", async () => {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.id = 5_000_002;
      p.comment.body = "@forgebot once please";
    });
    const before = await sessionCount();
    const statuses = await Promise.all(Array.from({ length: 10 }, () => post("issue_comment", payload, "same-delivery")).map(async (r) => (await r).status));
    expect(statuses.every((s) => s === 202)).toBe(true);
    await waitFor("reply", () => h.fake.live().find((c) => c.body.includes("forgebot:reply")));
    await waitForQuiet(h.bot);
    expect(await sessionCount()).toBe(before + 1);
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:reply"))).toHaveLength(1);
  });
});
