import { describe, expect, it } from "@jest/globals";
import { DOUBLE_FIRE_MS } from "../../../src/lifecycle/retry.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { waitFor } from "../../helpers/bot.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { formTokenFor, GITHUB_SIGN_IN_ENV, pageForm, postForm, setCookie, signIn } from "../../helpers/sign-in.js";
import { delta, scrape } from "../observability/scrape.js";
import { LINK_SECRET, seedSession, signedPath, SseReader } from "./support.js";

/**
 * Who may see and act on a session once sign-in is on (issue 13's acceptance): the link alone
 * shows nothing of a private repository's session; a reader sees it but cannot retry or stop; a
 * writer's retry is theirs; double-fires collapse, later retries do not; a permission removed
 * is seen within the cache time for views and at once for actions; operators by ADMIN_USERS.
 */

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

const CACHE_MS = 400;
const h = useGitHubBot({ flows: [echoFlow], env: { ...GITHUB_SIGN_IN_ENV, PERMISSION_CACHE_MS: String(CACHE_MS), ADMIN_USERS: "github:octo-admin,gitlab:root" } });

const SECRET_PROMPT = "what does the secret roadmap say";
const SECRET_RESULT = "The roadmap says: ship the thing.";

/** Signs in as `login` with repository role `role` on FakeGitHub. */
async function signInAs(login: string, role: string, id: number): Promise<{ cookie: string; id: string }> {
  h.fake.permissions.set(login, role);
  h.fake.oauthUser = { id, login };
  return signIn(h.bot.baseUrl, "github");
}

async function get(path: string, cookie?: string) {
  const res = await fetch(`${h.bot.baseUrl}${path}`, { headers: cookie ? { cookie } : {} });
  return { status: res.status, text: await res.text(), res };
}

function post(path: string, token: string, cookie: string | null) {
  return postForm(`${h.bot.baseUrl}${path}`, { token }, cookie ? { cookie } : {});
}

async function children(parentId: number) {
  const { rows } = await h.database.db.query<{ id: number; actor_login: string; visibility: string | null; origin: string }>(
    "SELECT id, actor_login, visibility, origin FROM sessions WHERE parent_session_id = $1 ORDER BY id",
    [parentId],
  );
  return rows;
}

async function statusOf(id: number): Promise<string> {
  return (await h.bot.bot.deps.sessions.getSession(id)).status;
}

/** A session of a private repository; an ended one has its reply delivered already. */
const privateSession = (extra: Parameters<typeof seedSession>[1] = {}) =>
  seedSession(h.bot.bot, { status: "finished", prompt: SECRET_PROMPT, result: SECRET_RESULT, visibility: "private", ...extra, delivered: (extra.status ?? "finished") === "finished" });

describe("a private repository's session", () => {
  it("shows nothing to the link alone: the page asks to sign in, JSON and the stream answer 401", async () => {
    const before = await scrape(h.bot.baseUrl);
    for (const visibility of ["private", "internal", null] as const) {
      const session = await privateSession({ visibility, number: 31 });
      const page = await get(signedPath(session.id));
      expect(page.status).toBe(401);
      expect(page.text).toContain(`Sign in to see session ${session.id}`);
      expect(page.text).toContain(`href="/auth/github?return_to=${encodeURIComponent(signedPath(session.id)).replace(/&/g, "&amp;")}"`);
      for (const secret of [SECRET_PROMPT, SECRET_RESULT.slice(0, 20), "Spelling error", "Codertocat", "Finished", "Timeline"]) expect(page.text).not.toContain(secret);

      const api = await get(`/api${signedPath(session.id)}`);
      expect(api.status).toBe(401);
      const body = JSON.parse(api.text) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(["error", "signIn"]);
      expect(api.text).not.toContain(SECRET_PROMPT);

      const stream = await get(signedPath(session.id, "/events"));
      expect(stream.status).toBe(401);
      expect(stream.text).not.toContain(SECRET_PROMPT);
    }
    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_permission_refusals_total", { forge: "github", reason: "anonymous" })).toBe(9);
  });

  it("a reader sees the page, but Retry and Stop are refused (403) and create nothing", async () => {
    const ended = await privateSession({ number: 32 });
    const running = await privateSession({ status: "running", number: 33 });
    const reader = await signInAs("rita", "read", 7001);

    const page = await get(signedPath(ended.id), reader.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain(SECRET_PROMPT);
    expect(page.text).toContain("Signed in as <strong>@rita</strong> (GitHub)");
    expect(pageForm(page.text, "retry")).toBeNull();
    expect(page.text).toContain("Only people with write access can retry sessions of Codertocat/Hello-World.");
    const runningPage = await get(signedPath(running.id), reader.cookie);
    expect(pageForm(runningPage.text, "stop")).toBeNull();
    const api = JSON.parse((await get(`/api${signedPath(ended.id)}`, reader.cookie)).text) as { retryAllowed: boolean; stopAllowed: boolean; prompt: string };
    expect(api).toMatchObject({ retryAllowed: false, stopAllowed: false, prompt: SECRET_PROMPT });

    // A crafted POST with a token valid for the reader's own sign-in: refused, nothing created or changed.
    const before = await scrape(h.bot.baseUrl);
    const retry = await post(signedPath(ended.id, "/retry"), formTokenFor(LINK_SECRET, reader.id, `retry:${ended.id}`), reader.cookie);
    expect(retry.status).toBe(403);
    expect(await retry.text()).toContain("does not count @rita among them");
    const stop = await post(signedPath(running.id, "/stop"), formTokenFor(LINK_SECRET, reader.id, `stop:${running.id}`), reader.cookie);
    expect(stop.status).toBe(403);
    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_permission_refusals_total", { forge: "github", reason: "not_writer" })).toBe(2);
    expect(delta(before, after, "forgebot_retries_total", { origin: "button", outcome: "not_allowed" })).toBe(1);
    expect(await children(ended.id)).toEqual([]);
    expect(await statusOf(running.id)).toBe("running");
    expect(h.fake.writes()).toEqual([]);

    // Someone GitHub does not let read the repository sees nothing, signed in or not.
    const stranger = await signInAs("eve", "none", 7002);
    const denied = await get(signedPath(ended.id), stranger.cookie);
    expect(denied.status).toBe(403);
    expect(denied.text).toContain(`You cannot see session ${ended.id}`);
    expect(denied.text).not.toContain(SECRET_PROMPT);
    expect((await get(`/api${signedPath(ended.id)}`, stranger.cookie)).status).toBe(403);
    expect((await get(signedPath(ended.id, "/events"), stranger.cookie)).status).toBe(403);
  });

  it("a writer's retry creates one session whose actor is the writer; their Stop stops a running one", async () => {
    const ended = await privateSession({ number: 34 });
    const writer = await signInAs("mona", "write", 7003);
    const form = pageForm((await get(signedPath(ended.id), writer.cookie)).text, "retry")!;
    expect(form).not.toBeNull();
    const res = await post(form.action, form.token, writer.cookie);
    expect(res.status).toBe(303);
    const [child] = await children(ended.id);
    expect(child).toMatchObject({ actor_login: "mona", origin: "retry_button", visibility: "private" });
    expect(res.headers.get("location")).toBe(signedPath(child!.id));
    const reply = await waitFor("the retry's reply", () => h.fake.live().find((c) => c.body.includes(`forgebot:reply session=${child!.id} `)));
    expect(reply.body).toContain(`Echo: ${SECRET_PROMPT}`);
    expect(reply.body).toContain("Retried by @mona");
    // The retry's page is as private as its parent's.
    expect((await get(signedPath(child!.id))).status).toBe(401);
    expect((await get(signedPath(child!.id), writer.cookie)).status).toBe(200);

    const running = await privateSession({ status: "running", number: 35 });
    const stopForm = pageForm((await get(signedPath(running.id), writer.cookie)).text, "stop")!;
    expect(stopForm.action).toBe(signedPath(running.id, "/stop"));
    const stopped = await post(stopForm.action, stopForm.token, writer.cookie);
    expect(stopped.status).toBe(303);
    expect(stopped.headers.get("location")).toBe(signedPath(running.id));
    expect(await statusOf(running.id)).toBe("stopped");
    const stopReply = await waitFor("the stopped session's reply", () => h.fake.live().find((c) => c.body.includes(`forgebot:reply session=${running.id} `)));
    expect(stopReply.body).toContain("This session was stopped.");
    const { rows } = await h.database.db.query("SELECT data FROM session_events WHERE session_id = $1 AND kind = 'status' ORDER BY id DESC LIMIT 1", [running.id]);
    expect(rows[0]).toMatchObject({ data: { to: "stopped", by: "mona", origin: "button" } });
    // Pressed again: harmless. On a session that has ended: 409, nothing changes.
    expect((await post(stopForm.action, stopForm.token, writer.cookie)).status).toBe(303);
    const finishedStop = await post(signedPath(ended.id, "/stop"), formTokenFor(LINK_SECRET, writer.id, `stop:${ended.id}`), writer.cookie);
    expect(finishedStop.status).toBe(409);
    expect(await statusOf(ended.id)).toBe("finished");
  });

  it("8 concurrent retry POSTs by one writer make one new session; a second retry after it ended makes a second", async () => {
    const parent = await privateSession({ number: 36 });
    const writer = await signInAs("mona", "write", 7003);
    const form = pageForm((await get(signedPath(parent.id), writer.cookie)).text, "retry")!;
    const before = await scrape(h.bot.baseUrl);
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(form.action, form.token, writer.cookie)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(303));
    expect(new Set(answers.map((a) => a.headers.get("location"))).size).toBe(1);
    const [first] = await children(parent.id);
    expect(await children(parent.id)).toHaveLength(1);
    const after = await scrape(h.bot.baseUrl);
    expect(delta(before, after, "forgebot_retries_total", { origin: "button", outcome: "started" })).toBe(1);
    expect(delta(before, after, "forgebot_retries_total", { origin: "button", outcome: "duplicate" })).toBe(7);

    await waitFor("the first retry's reply", () => h.fake.live().find((c) => c.body.includes(`forgebot:reply session=${first!.id} `)));
    expect(h.fake.comments.filter((c) => c.body.includes(`forgebot:started session=${first!.id} `))).toHaveLength(1);
    const { rows } = await h.database.db.query<{ created_at: Date }>("SELECT created_at FROM sessions WHERE id = $1", [first!.id]);
    await waitFor("the double-fire window to pass", () => Date.now() - rows[0]!.created_at.getTime() > DOUBLE_FIRE_MS);

    const second = await post(form.action, form.token, writer.cookie);
    expect(second.status).toBe(303);
    const both = await children(parent.id);
    expect(both).toHaveLength(2);
    expect(second.headers.get("location")).toBe(signedPath(both[1]!.id));
    expect(both[1]).toMatchObject({ actor_login: "mona", origin: "retry_button" });
  });

  it("a permission removed is refused at once for actions, and within the cache time for views and streams", async () => {
    const ended = await privateSession({ number: 37 });
    const running = await privateSession({ status: "running", number: 38 });
    const writer = await signInAs("mona", "write", 7003);
    const form = pageForm((await get(signedPath(ended.id), writer.cookie)).text, "retry")!;
    const stream = new SseReader(await fetch(`${h.bot.baseUrl}${signedPath(running.id, "/events")}`, { headers: { cookie: writer.cookie } }));
    const opened = (await stream.until((events) => events.some((e) => e.event === "summary"))).length;

    h.fake.permissions.set("mona", "none");
    // Actions ask GitHub afresh: refused although the page was drawn a moment ago.
    const res = await post(form.action, form.token, writer.cookie);
    expect(res.status).toBe(403);
    expect(await children(ended.id)).toEqual([]);

    // Views reuse an answer for at most PERMISSION_CACHE_MS, then see the change.
    await new Promise((r) => setTimeout(r, CACHE_MS + 100));
    const page = await get(signedPath(ended.id), writer.cookie);
    expect(page.status).toBe(403);
    expect(page.text).not.toContain(SECRET_PROMPT);
    // An open stream ends at its next change instead of sending it.
    await h.bot.bot.deps.sessions.addEvent(running.id, "started_note_posted", { noteId: "1", run: 1 });
    const events = await stream.toEnd();
    // Nothing more than the end: the new event never reaches the one who lost access.
    expect(events.slice(opened)).toEqual([{ event: "end", data: { reason: "forbidden" }, id: null }]);
  });
});

describe("a public repository's session", () => {
  it("shows to the link alone, but an anonymous POST to retry or stop creates nothing", async () => {
    const ended = await seedSession(h.bot.bot, { status: "finished", prompt: "public question", delivered: true, number: 41 });
    const running = await seedSession(h.bot.bot, { status: "running", number: 42 });
    const page = await get(signedPath(ended.id));
    expect(page.status).toBe(200);
    expect(page.text).toContain("public question");
    expect(pageForm(page.text, "retry")).toBeNull();
    expect(page.text).toContain("Sign in with GitHub to retry this session.");

    // Even with a token made for some browser, nobody signed in: 401, nothing created or stopped.
    const fake = "B".repeat(43);
    const retry = await post(signedPath(ended.id, "/retry"), formTokenFor(LINK_SECRET, fake, `retry:${ended.id}`), null);
    expect(retry.status).toBe(401);
    expect(await retry.text()).toContain("You are not signed in.");
    const stop = await post(signedPath(running.id, "/stop"), formTokenFor(LINK_SECRET, fake, `stop:${running.id}`), null);
    expect(stop.status).toBe(401);
    expect(await children(ended.id)).toEqual([]);
    expect(await statusOf(running.id)).toBe("running");
    expect(h.fake.writes()).toEqual([]);
  });
});

describe("operators", () => {
  it("GET /sessions lets in signed-in users listed in ADMIN_USERS, who may also read any session", async () => {
    const session = await privateSession({ number: 43 });
    expect((await get("/sessions")).status).toBe(401);
    const writer = await signInAs("mona", "write", 7003);
    const refused = await get("/sessions", writer.cookie);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("@mona is not an operator here");

    // An operator with no permission on the repository at all.
    const admin = await signInAs("Octo-Admin", "none", 7004);
    const list = await get("/sessions?forge=github", admin.cookie);
    expect(list.status).toBe(200);
    expect(list.text).toContain(`<a href="${signedPath(session.id).replace(/&/g, "&amp;")}">${session.id}</a>`);
    const page = await get(signedPath(session.id), admin.cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain(SECRET_PROMPT);
    // Reading is not acting: no write access, no Retry.
    expect(pageForm(page.text, "retry")).toBeNull();
  });

  it("an expired sign-in reads as none: the sign-in page again, and the stale cookie is cleared", async () => {
    const session = await privateSession({ number: 44 });
    // A user of their own: no permission answer cached by an earlier test applies.
    const writer = await signInAs("lisa", "write", 7005);
    expect((await get(signedPath(session.id), writer.cookie)).status).toBe(200);
    await h.database.db.query("UPDATE web_sessions SET expires_at = now() - interval '1 second'");
    const page = await get(signedPath(session.id), writer.cookie);
    expect(page.status).toBe(401);
    expect(page.text).toContain("Your sign-in has expired.");
    expect(page.text).not.toContain(SECRET_PROMPT);
    expect(setCookie(page.res, "forgebot_session")?.header).toMatch(/^forgebot_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
  });
});
