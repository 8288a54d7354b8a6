import { describe, expect, it } from "@jest/globals";
import type { Flow } from "../../../src/sessions/flow.js";
import { waitFor } from "../../helpers/bot.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { githubExample } from "../../helpers/payloads.js";
import { retryToken } from "../../../src/web/access.js";
import { LINK_SECRET, seedSession, signedPath } from "./support.js";

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};


const h = useGitHubBot({ flows: [echoFlow] });

/** The retry form of a session page: its action and token, or null when the page has no button. */
async function retryForm(id: number): Promise<{ action: string; token: string } | null> {
  const html = await (await fetch(`${h.bot.baseUrl}${signedPath(id)}`)).text();
  const action = /<form class="retry" method="post" action="([^"]+)">/.exec(html)?.[1];
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1];
  return action && token ? { action: action.replace(/&amp;/g, "&"), token } : null;
}

/** A POST as the page's form sends it; `headers` entries set to null are left out. */
function postRetry(action: string, token: string, headers: Record<string, string | null> = {}): Promise<Response> {
  const all: Record<string, string | null> = { "content-type": "application/x-www-form-urlencoded", origin: h.bot.baseUrl, "sec-fetch-site": "same-origin", ...headers };
  return fetch(`${h.bot.baseUrl}${action}`, {
    method: "POST",
    redirect: "manual",
    headers: Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null)),
    body: new URLSearchParams({ token }).toString(),
  });
}

async function childrenOf(parentId: number): Promise<{ id: number; origin: string; prompt: string; parent_session_id: number }[]> {
  const { rows } = await h.database.db.query("SELECT id, origin, prompt, parent_session_id FROM sessions WHERE parent_session_id = $1 ORDER BY id", [parentId]);
  return rows;
}

const startedNotes = (id: number) => h.fake.comments.filter((c) => c.body.includes(`<!-- forgebot:started session=${id} -->`));

describe("POST /sessions/:id/retry", () => {
  it("two concurrent POSTs make one child session with one started note, which runs and replies", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", prompt: "summarize the thread", result: "Summary.", delivered: true, number: 11 });
    const form = (await retryForm(parent.id))!;
    expect(form).not.toBeNull();

    const [a, b] = await Promise.all([postRetry(form.action, form.token), postRetry(form.action, form.token)]);
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(a.headers.get("location")).toBe(b.headers.get("location"));

    const children = await childrenOf(parent.id);
    expect(children).toHaveLength(1);
    const child = children[0]!;
    expect(child).toMatchObject({ origin: "retry_button", prompt: "summarize the thread", parent_session_id: parent.id });
    expect(a.headers.get("location")).toBe(signedPath(child.id));

    // The child posts its own started note in the parent's thread, runs, deletes it and replies.
    const reply = await waitFor("the retry's reply", () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${child.id} -->`)));
    expect(reply.number).toBe(11);
    expect(reply.body).toContain("Echo: summarize the thread");
    expect(startedNotes(child.id)).toHaveLength(1);
    expect(startedNotes(child.id)[0]).toMatchObject({ number: 11, deleted: true });
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);

    const after = await h.bot.bot.deps.sessions.getSession(child.id);
    expect(after).toMatchObject({ status: "finished", usage: expect.objectContaining({ durationMs: expect.any(Number) }) });
    const { rows } = await h.database.db.query("SELECT kind, data FROM session_events WHERE session_id = $1 AND kind = 'retried'", [parent.id]);
    expect(rows).toEqual([{ kind: "retried", data: { sessionId: child.id, origin: "retry_button" } }]);

    // A later click on the parent reaches the same child and posts nothing new.
    const again = await postRetry(form.action, form.token);
    expect(again.headers.get("location")).toBe(signedPath(child.id));
    expect(await childrenOf(parent.id)).toHaveLength(1);
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);

    // The parent's page now links to its retry.
    const html = await (await fetch(`${h.bot.baseUrl}${signedPath(parent.id)}`)).text();
    expect(html).toContain(`Retried as <a href="${signedPath(child.id)}">Session ${child.id}</a>`);
  });

  it("a forge failure while starting the retry answers 502 with a link to the new session; a later click finishes the start", async () => {
    const parent = await seedSession(h.bot.bot, { status: "stopped", prompt: "try again", delivered: true, number: 15 });
    const form = (await retryForm(parent.id))!;
    h.fake.interceptors.push((r) => (r.method === "POST" && r.path.endsWith("/comments") ? [500, { message: "GitHub is down" }] : undefined));
    const failed = await postRetry(form.action, form.token);
    h.fake.interceptors.length = 0;
    expect(failed.status).toBe(502);
    const [child] = await childrenOf(parent.id);
    expect(await failed.text()).toContain(`<a href="${signedPath(child!.id).replace(/&/g, "&amp;")}">Session ${child!.id}</a>`);

    // A minute later the user presses Retry again: a child still not started is started now.
    await h.database.db.query("UPDATE sessions SET updated_at = now() - interval '31 seconds' WHERE id = $1 AND status = 'created'", [child!.id]);
    const again = await postRetry(form.action, form.token);
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(signedPath(child!.id));
    await waitFor("the retry's reply", () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${child!.id} -->`)));
    expect(startedNotes(child!.id).length).toBeLessThanOrEqual(1);
    expect(await childrenOf(parent.id)).toHaveLength(1);
  });

  it("a retry left in Created (its start never ran) is started by a later click, once, after it has stalled", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", prompt: "stuck", delivered: true, number: 16 });
    const form = (await retryForm(parent.id))!;
    // As if the process died between creating the child and starting it.
    const { session: child } = await h.bot.bot.deps.sessions.createSession({
      thread: parent.callbackContext.thread,
      triggerKey: `retry-of-${parent.id}`,
      triggerCommentId: null,
      actor: parent.actor,
      command: parent.command,
      prompt: parent.prompt,
      flow: parent.flow,
      parentSessionId: parent.id,
      origin: "retry_button",
      title: parent.callbackContext.title,
      threadUrl: parent.callbackContext.threadUrl,
      triggerCreatedAt: parent.callbackContext.triggerCreatedAt,
    });
    // A click right away may be racing a start still in progress elsewhere: it only redirects.
    expect((await postRetry(form.action, form.token)).headers.get("location")).toBe(signedPath(child.id));
    expect(startedNotes(child.id)).toEqual([]);
    expect((await h.bot.bot.deps.sessions.getSession(child.id)).status).toBe("created");

    // Once the child has been quiet for STALLED_START_MS, the next click starts it; concurrent clicks start it once.
    await h.database.db.query("UPDATE sessions SET updated_at = now() - interval '31 seconds' WHERE id = $1", [child.id]);
    const [a, b] = await Promise.all([postRetry(form.action, form.token), postRetry(form.action, form.token)]);
    expect([a.status, b.status]).toEqual([303, 303]);
    await waitFor("the healed retry's reply", () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${child.id} -->`)));
    expect(startedNotes(child.id)).toHaveLength(1);
    expect(await childrenOf(parent.id)).toHaveLength(1);
  });

  it("refuses to retry a running session and creates nothing", async () => {
    const running = await seedSession(h.bot.bot, { status: "running", number: 12 });
    expect(await retryForm(running.id)).toBeNull();
    // Even with a valid signature and token (a stale page, a crafted request) nothing is created.
    const res = await postRetry(signedPath(running.id, "/retry"), retryToken(LINK_SECRET, running.id));
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain(`Session ${running.id} is still running; it can be retried once it has ended.`);
    expect(await childrenOf(running.id)).toEqual([]);
    expect(h.fake.writes()).toEqual([]);
  });

  it("refuses cross-site requests, bad tokens and bad signatures", async () => {
    const parent = await seedSession(h.bot.bot, { status: "failed", delivered: true, number: 13 });
    const form = (await retryForm(parent.id))!;
    const cases: [string, Promise<Response>, number][] = [
      ["cross-site fetch", postRetry(form.action, form.token, { "sec-fetch-site": "cross-site" }), 403],
      ["foreign Origin", postRetry(form.action, form.token, { "sec-fetch-site": null, origin: "https://evil.example" }), 403],
      ["same-site subdomain", postRetry(form.action, form.token, { "sec-fetch-site": "same-site" }), 403],
      ["wrong token", postRetry(form.action, "not-the-token"), 403],
      ["the link signature as token", postRetry(form.action, form.action.split("sig=")[1]!), 403],
      ["no token", postRetry(form.action, ""), 403],
      ["wrong signature", postRetry(form.action.replace(/sig=[\w-]+/, "sig=forged"), form.token), 404],
      ["JSON body", postRetry(form.action, form.token, { "content-type": "application/json" }), 403],
    ];
    for (const [what, response, status] of cases) expect([what, (await response).status]).toEqual([what, status]);
    expect(await childrenOf(parent.id)).toEqual([]);
    expect(h.fake.writes()).toEqual([]);
  });

  it("offers no button and refuses the POST when manual_retry is off for the author", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", delivered: true, number: 14 });
    const form = (await retryForm(parent.id))!;
    const policy = h.bot.bot.deps.retryPolicy;
    h.bot.bot.deps.retryPolicy = { retryAllowed: async (actor) => actor.login !== "Codertocat" };
    try {
      expect(await retryForm(parent.id)).toBeNull();
      const res = await postRetry(form.action, form.token);
      expect(res.status).toBe(403);
      const api = (await (await fetch(`${h.bot.baseUrl}/api${signedPath(parent.id)}`)).json()) as { retryAllowed: boolean };
      expect(api.retryAllowed).toBe(false);
    } finally {
      h.bot.bot.deps.retryPolicy = policy;
    }
    expect(await childrenOf(parent.id)).toEqual([]);
  });
});

describe("@forgebot retry", () => {
  let delivery = 0;
  async function comment(body: string, id: number) {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.comment.id = id;
      p.comment.body = body;
      p.issue.number = 21;
    });
    const raw = JSON.stringify(payload);
    const res = await fetch(`${h.bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `retry-${++delivery}`, raw), body: raw });
    expect(res.status).toBe(202);
  }

  it("goes through the same service: a child of the thread's last session, or a refusal while it runs", async () => {
    await comment("@forgebot explain the README", 7_000_001);
    const parentId = await waitFor("the first session", async () => {
      const { rows } = await h.database.db.query<{ id: number }>("SELECT id FROM sessions WHERE trigger_comment_id = '7000001'");
      return rows[0]?.id;
    });
    await waitFor("first reply", () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${parentId} -->`)));

    await comment("@forgebot retry", 7_000_002);
    const children = await waitFor("the retry", async () => ((await childrenOf(parentId)).length ? childrenOf(parentId) : null));
    const retried = await waitFor("retry reply", () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${children[0]!.id} -->`)));
    expect(retried.body).toContain("Echo: explain the README");
    expect(children).toMatchObject([{ origin: "retry_command", prompt: "explain the README", parent_session_id: parentId }]);
    const { rows } = await h.database.db.query("SELECT data FROM session_events WHERE session_id = $1 AND kind = 'retried'", [parentId]);
    expect(rows).toEqual([{ data: { sessionId: children[0]!.id, origin: "retry_command", by: "Codertocat" } }]);

    // While the thread's latest session runs, the command is refused with a note and nothing is created.
    const running = await seedSession(h.bot.bot, { status: "running", number: 21 });
    const before = await h.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
    await comment("@forgebot retry", 7_000_003);
    const refusal = await waitFor("refusal note", () => h.fake.live().find((c) => c.body.includes("forgebot:notice retry")));
    expect(refusal.body).toContain(`Session ${running.id} is still running; it can be retried once it has ended.`);
    const after = await h.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});
