import { beforeAll, describe, expect, it } from "@jest/globals";
import { createGateStore, type GateStore } from "../../../src/flags/gate-store.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { waitFor } from "../../helpers/bot.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { githubExample } from "../../helpers/payloads.js";
import { GITHUB_SIGN_IN_ENV, pageForm, signIn } from "../../helpers/sign-in.js";

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let store: GateStore;

/** Posts an issue comment by `login` on the example issue; returns its delivery id. */
async function comment(commentId: number, body: string, login = "Codertocat"): Promise<string> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = commentId;
    p.comment.body = body;
    p.comment.user.login = login;
    p.sender.login = login;
  });
  const deliveryId = `retry-flag-${commentId}`;
  const text = JSON.stringify(payload);
  const res = await fetch(`${h.bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", deliveryId, text), body: text });
  expect(res.status).toBe(202);
  return deliveryId;
}

async function processed(deliveryId: string): Promise<void> {
  await waitFor(`delivery ${deliveryId} processed`, async () => {
    const { rows } = await h.database.db.query<{ status: string }>("SELECT status FROM webhook_deliveries WHERE delivery_key = $1", [deliveryId]);
    return rows[0] && rows[0].status !== "received";
  });
}

type Row = { id: number; origin: string; actor_login: string; parent_session_id: number | null };

async function retrySessions(): Promise<Row[]> {
  const { rows } = await h.database.db.query<Row>("SELECT id, origin, actor_login, parent_session_id FROM sessions WHERE origin LIKE 'retry%' ORDER BY id");
  return rows;
}

/** Every session has ended and every started note is gone: the next retry has an ended parent. */
async function settled(): Promise<void> {
  await waitFor("sessions ended", async () => {
    const { rows } = await h.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE status NOT IN ('finished', 'failed', 'stopped')");
    return rows[0]!.n === 0 && !h.fake.live().some((c) => c.body.includes("forgebot:started"));
  });
}

/** The retry button on the session page and `retryAllowed` in its JSON, from the reply's signed link, for the signed-in `cookie`. */
async function retryOffered(replyBody: string, cookie: string): Promise<{ button: boolean; json: boolean }> {
  const link = /\[View session\]\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(replyBody)![1]!;
  const page = await fetch(`${h.bot.baseUrl}${link}`, { headers: { cookie } });
  const api = await fetch(`${h.bot.baseUrl}/api${link}`, { headers: { cookie } });
  expect([page.status, api.status]).toEqual([200, 200]);
  const html = await page.text();
  return { button: pageForm(html, "retry") !== null, json: ((await api.json()) as { retryAllowed: boolean }).retryAllowed };
}

/** Waits until the bot's own cached evaluation reflects the change (the NOTIFY arrived). */
async function botSees(actor: string, expected: boolean): Promise<void> {
  await waitFor(`manual_retry ${expected} for ${actor}`, async () => (await h.bot.bot.flags.isEnabled("manual_retry", actor)) === expected, 5000);
}

const h = useGitHubBot({ flows: [echoFlow], env: GITHUB_SIGN_IN_ENV });

beforeAll(() => {
  store = createGateStore(h.database.db);
});

describe("manual_retry flag", () => {
  it("off for an actor: their `@forgebot retry` makes no retry and the retry policy refuses them; on: the retry runs", async () => {
    await comment(6_000_001, "@forgebot summarize this issue");
    const first = await waitFor("first reply", () => h.fake.live().find((c) => c.body.includes("forgebot:reply")));
    await settled();
    // On by default (config/feature_flags/manual_retry.yml) for everyone.
    expect(await h.bot.bot.deps.retryPolicy.retryAllowed({ login: "Codertocat", forge: "github", repoPath: "Codertocat/Hello-World" })).toBe(true);
    // The button is for a signed-in writer: Codertocat signs in (FakeGitHub's default user).
    const { cookie } = await signIn(h.bot.baseUrl, "github");
    expect(await retryOffered(first.body, cookie)).toEqual({ button: true, json: true });

    // Off for everyone except hubot.
    await store.setBoolean("manual_retry", false);
    await store.addValues("manual_retry", "actors", ["github:hubot"]);
    await botSees("github:codertocat", false);
    expect(await h.bot.bot.deps.retryPolicy.retryAllowed({ login: "Codertocat", forge: "github", repoPath: "Codertocat/Hello-World" })).toBe(false);
    expect(await h.bot.bot.deps.retryPolicy.retryAllowed({ login: "Hubot", forge: "github", repoPath: "Codertocat/Hello-World" })).toBe(true);
    // Codertocat's session page no longer offers the retry button.
    expect(await retryOffered(first.body, cookie)).toEqual({ button: false, json: false });

    await processed(await comment(6_000_002, "@forgebot retry"));
    await settled();
    expect(await retrySessions()).toEqual([]);

    // Hubot is in the actor gate: their retry command is honoured.
    await processed(await comment(6_000_003, "@forgebot retry", "hubot"));
    const [byHubot] = await waitFor("hubot's retry", async () => ((await retrySessions()).length === 1 ? retrySessions() : null));
    expect(byHubot).toMatchObject({ origin: "retry_command", actor_login: "hubot" });
    expect(byHubot!.parent_session_id).not.toBeNull();
    await waitFor("hubot's retry reply", () => h.fake.live().find((c) => c.body.includes(`forgebot:reply session=${byHubot!.id} `)));
    await settled();

    // Codertocat enabled too: the same command now retries.
    await store.addValues("manual_retry", "actors", ["github:Codertocat"]);
    await botSees("github:codertocat", true);
    await processed(await comment(6_000_004, "@forgebot retry"));
    const retries = await waitFor("codertocat's retry", async () => ((await retrySessions()).length === 2 ? retrySessions() : null));
    expect(retries[1]).toMatchObject({ origin: "retry_command", actor_login: "Codertocat", parent_session_id: byHubot!.id });
    await waitFor("codertocat's retry reply", () => h.fake.live().find((c) => c.body.includes(`forgebot:reply session=${retries[1]!.id} `)));
  });

  it("a repository gate opens retry for everyone in that repository, and only there", async () => {
    await store.deleteFlag("manual_retry");
    await store.setBoolean("manual_retry", false);
    await store.addValues("manual_retry", "actors", ["github:repo:Codertocat/Hello-World"]);
    await waitFor("the bot sees the repository gate", async () => !(await h.bot.bot.flags.isEnabled("manual_retry", { user: "github:someone" })), 5000);
    const policy = h.bot.bot.deps.retryPolicy;
    expect(await policy.retryAllowed({ login: "mona", forge: "github", repoPath: "Codertocat/Hello-World" })).toBe(true);
    expect(await policy.retryAllowed({ login: "mona", forge: "github", repoPath: "Codertocat/Other" })).toBe(false);
    // A user listed nowhere retries in the gated repository.
    await settled();
    const before = (await retrySessions()).length;
    await processed(await comment(6_000_005, "@forgebot retry", "mona"));
    const after = await waitFor("mona's retry", async () => ((await retrySessions()).length === before + 1 ? retrySessions() : null));
    expect(after.at(-1)).toMatchObject({ origin: "retry_command", actor_login: "mona" });
  });
});
