import { describe, expect, it } from "@jest/globals";
import { DOUBLE_FIRE_MS } from "../../../src/lifecycle/retry.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { waitFor } from "../../helpers/bot.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { githubExample } from "../../helpers/payloads.js";
import { formTokenFor, GITHUB_SIGN_IN_ENV, pageForm, postForm, signIn } from "../../helpers/sign-in.js";
import { LINK_SECRET, seedSession, signedPath } from "./support.js";

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

const h = useGitHubBot({ flows: [echoFlow], env: GITHUB_SIGN_IN_ENV });

/** Signs a browser in as `login` (a writer on FakeGitHub unless the test says otherwise). */
async function signInAs(login: string, id = 9001): Promise<string> {
  h.fake.oauthUser = { id, login };
  return (await signIn(h.bot.baseUrl, "github")).cookie;
}

/** The retry form of a session page as `cookie`'s browser sees it, or null when the page has no button. */
async function retryForm(id: number, cookie: string): Promise<{ action: string; token: string } | null> {
  const html = await (await fetch(`${h.bot.baseUrl}${signedPath(id)}`, { headers: { cookie } })).text();
  return pageForm(html, "retry");
}

/** A POST as the page's form sends it, from the signed-in browser `cookie`. */
function postRetry(action: string, token: string, cookie: string | null, headers: Record<string, string | null> = {}): Promise<Response> {
  return postForm(`${h.bot.baseUrl}${action}`, { token }, { origin: h.bot.baseUrl, ...(cookie ? { cookie } : {}), ...headers });
}

async function childrenOf(parentId: number): Promise<{ id: number; origin: string; prompt: string; parent_session_id: number; actor_login: string; created_at: Date }[]> {
  const { rows } = await h.database.db.query("SELECT id, origin, prompt, parent_session_id, actor_login, created_at FROM sessions WHERE parent_session_id = $1 ORDER BY id", [parentId]);
  return rows;
}

const startedNotes = (id: number) => h.fake.comments.filter((c) => c.body.includes(`<!-- forgebot:started session=${id} -->`));
const reply = (id: number) => waitFor(`session ${id}'s reply`, () => h.fake.live().find((c) => c.body.includes(`<!-- forgebot:reply session=${id} -->`)));

describe("POST /sessions/:id/retry", () => {
  it("two concurrent POSTs by a signed-in writer make one child, theirs, with one started note saying who retried; a press after it ended makes another", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", prompt: "summarize the thread", result: "Summary.", delivered: true, number: 11 });
    const cookie = await signInAs("mona");
    const form = (await retryForm(parent.id, cookie))!;
    expect(form).not.toBeNull();

    const [a, b] = await Promise.all([postRetry(form.action, form.token, cookie), postRetry(form.action, form.token, cookie)]);
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(a.headers.get("location")).toBe(b.headers.get("location"));

    const children = await childrenOf(parent.id);
    expect(children).toHaveLength(1);
    const child = children[0]!;
    // The retry is the signed-in user's, not the parent's author's.
    expect(child).toMatchObject({ origin: "retry_button", prompt: "summarize the thread", parent_session_id: parent.id, actor_login: "mona" });
    expect(a.headers.get("location")).toBe(signedPath(child.id));

    // The child posts its own started note in the parent's thread, runs, deletes it and replies.
    const answer = await reply(child.id);
    expect(answer.number).toBe(11);
    expect(answer.body).toContain("Echo: summarize the thread");
    expect(answer.body).toContain("Retried by @mona");
    expect(startedNotes(child.id)).toHaveLength(1);
    expect(startedNotes(child.id)[0]).toMatchObject({ number: 11, deleted: true });
    expect(startedNotes(child.id)[0]!.body).toContain("Retried by @mona");
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(1);

    const after = await h.bot.bot.deps.sessions.getSession(child.id);
    expect(after).toMatchObject({ status: "finished", actor: { id: "9001", login: "mona" }, usage: expect.objectContaining({ durationMs: expect.any(Number) }) });
    const { rows } = await h.database.db.query("SELECT kind, data FROM session_events WHERE session_id = $1 AND kind = 'retried'", [parent.id]);
    expect(rows).toEqual([{ kind: "retried", data: { sessionId: child.id, origin: "retry_button", by: "mona" } }]);

    // The parent can be retried again once its retry has ended (past the double-fire window): a second child.
    await waitFor("the double-fire window to pass", () => Date.now() - child.created_at.getTime() > DOUBLE_FIRE_MS);
    const again = await postRetry(form.action, form.token, cookie);
    expect(again.status).toBe(303);
    const both = await childrenOf(parent.id);
    expect(both).toHaveLength(2);
    expect(again.headers.get("location")).toBe(signedPath(both[1]!.id));
    await reply(both[1]!.id);
    expect(h.fake.comments.filter((c) => c.body.includes("forgebot:started"))).toHaveLength(2);

    // The parent's page now links to both retries.
    const html = await (await fetch(`${h.bot.baseUrl}${signedPath(parent.id)}`, { headers: { cookie } })).text();
    expect(html).toContain(`Retried as <a href="${signedPath(child.id).replace(/&/g, "&amp;")}">Session ${child.id}</a> (Finished), <a href="${signedPath(both[1]!.id).replace(/&/g, "&amp;")}">`);
  });

  it("a forge failure while starting the retry answers 502 with a link to the new session; a later click finishes the start", async () => {
    const parent = await seedSession(h.bot.bot, { status: "stopped", prompt: "try again", delivered: true, number: 15 });
    const cookie = await signInAs("mona");
    const form = (await retryForm(parent.id, cookie))!;
    h.fake.interceptors.push((r) => (r.method === "POST" && r.path.endsWith("/comments") ? [500, { message: "GitHub is down" }] : undefined));
    const failed = await postRetry(form.action, form.token, cookie);
    h.fake.interceptors.length = 0;
    expect(failed.status).toBe(502);
    const [child] = await childrenOf(parent.id);
    expect(await failed.text()).toContain(`<a href="${signedPath(child!.id).replace(/&/g, "&amp;")}">Session ${child!.id}</a>`);

    // A minute later the user presses Retry again: a child still not started is started now.
    await h.database.db.query("UPDATE sessions SET updated_at = now() - interval '31 seconds' WHERE id = $1 AND status = 'created'", [child!.id]);
    const again = await postRetry(form.action, form.token, cookie);
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(signedPath(child!.id));
    await reply(child!.id);
    expect(startedNotes(child!.id).length).toBeLessThanOrEqual(1);
    expect(await childrenOf(parent.id)).toHaveLength(1);
  });

  it("a retry left in Created (its start never ran) is started by a later click, once, after it has stalled", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", prompt: "stuck", delivered: true, number: 16 });
    const cookie = await signInAs("mona");
    const form = (await retryForm(parent.id, cookie))!;
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
    expect((await postRetry(form.action, form.token, cookie)).headers.get("location")).toBe(signedPath(child.id));
    expect(startedNotes(child.id)).toEqual([]);
    expect((await h.bot.bot.deps.sessions.getSession(child.id)).status).toBe("created");

    // Once the child has been quiet for STALLED_START_MS, the next click starts it; concurrent clicks start it once.
    await h.database.db.query("UPDATE sessions SET updated_at = now() - interval '31 seconds' WHERE id = $1", [child.id]);
    const [a, b] = await Promise.all([postRetry(form.action, form.token, cookie), postRetry(form.action, form.token, cookie)]);
    expect([a.status, b.status]).toEqual([303, 303]);
    await reply(child.id);
    expect(startedNotes(child.id)).toHaveLength(1);
    expect(await childrenOf(parent.id)).toHaveLength(1);
  });

  it("refuses to retry a running session and creates nothing", async () => {
    const running = await seedSession(h.bot.bot, { status: "running", number: 12 });
    const { cookie, id } = await signIn(h.bot.baseUrl, "github");
    expect(await retryForm(running.id, cookie)).toBeNull();
    // Even with a valid signature and token (a stale page, a crafted request) nothing is created.
    const res = await postRetry(signedPath(running.id, "/retry"), formTokenFor(LINK_SECRET, id, `retry:${running.id}`), cookie);
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain(`Session ${running.id} is still running; it can be retried once it has ended.`);
    expect(await childrenOf(running.id)).toEqual([]);
    expect(h.fake.writes()).toEqual([]);
  });

  it("refuses cross-site requests, bad tokens, tokens of another sign-in, anonymous requests and bad signatures", async () => {
    const parent = await seedSession(h.bot.bot, { status: "failed", delivered: true, number: 13 });
    const cookie = await signInAs("mona");
    const other = await signInAs("hubot", 9002);
    const form = (await retryForm(parent.id, cookie))!;
    const othersToken = (await retryForm(parent.id, other))!.token;
    const cases: [string, Promise<Response>, number][] = [
      ["cross-site fetch", postRetry(form.action, form.token, cookie, { "sec-fetch-site": "cross-site" }), 403],
      ["foreign Origin", postRetry(form.action, form.token, cookie, { "sec-fetch-site": null, origin: "https://evil.example" }), 403],
      ["same-site subdomain", postRetry(form.action, form.token, cookie, { "sec-fetch-site": "same-site" }), 403],
      ["wrong token", postRetry(form.action, "not-the-token", cookie), 403],
      ["the link signature as token", postRetry(form.action, form.action.split("sig=")[1]!, cookie), 403],
      ["no token", postRetry(form.action, "", cookie), 403],
      ["another browser's token", postRetry(form.action, othersToken, cookie), 403],
      ["anonymous, with a real token", postRetry(form.action, form.token, null), 401],
      ["a made-up session cookie", postRetry(form.action, form.token, `forgebot_session=${"A".repeat(43)}`), 401],
      ["wrong signature", postRetry(form.action.replace(/sig=[\w-]+/, "sig=forged"), form.token, cookie), 404],
      ["JSON body", postRetry(form.action, form.token, cookie, { "content-type": "application/json" }), 403],
    ];
    for (const [what, response, status] of cases) expect([what, (await response).status]).toEqual([what, status]);
    expect(await childrenOf(parent.id)).toEqual([]);
    expect(h.fake.writes()).toEqual([]);
  });

  it("offers no button and refuses the POST when manual_retry is off for the signed-in user", async () => {
    const parent = await seedSession(h.bot.bot, { status: "finished", delivered: true, number: 14 });
    const cookie = await signInAs("mona");
    const form = (await retryForm(parent.id, cookie))!;
    const policy = h.bot.bot.deps.retryPolicy;
    // Off for mona, on for the parent's author: the one who presses is the one asked about.
    h.bot.bot.deps.retryPolicy = { retryAllowed: async (actor) => actor.login !== "mona" };
    try {
      expect(await retryForm(parent.id, cookie)).toBeNull();
      const html = await (await fetch(`${h.bot.baseUrl}${signedPath(parent.id)}`, { headers: { cookie } })).text();
      expect(html).toContain("Retrying sessions is not enabled for you here.");
      const res = await postRetry(form.action, form.token, cookie);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain("Retrying sessions is not enabled here.");
      const api = (await (await fetch(`${h.bot.baseUrl}/api${signedPath(parent.id)}`, { headers: { cookie } })).json()) as { retryAllowed: boolean };
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
