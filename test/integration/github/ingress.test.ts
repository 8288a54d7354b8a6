import { describe, expect, it } from "@jest/globals";
import type { Flow } from "../../../src/sessions/flow.js";
import { registry } from "../../../src/metrics/index.js";
import { startTestBot, waitFor } from "../../helpers/bot.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { githubExample } from "../../helpers/payloads.js";
import { waitForQuiet } from "../../helpers/quiet.js";

const echoFlow: Flow = { name: "chat", run: async (s) => ({ kind: "finished", markdown: `Echo: ${s.prompt}` }) };

const h = useGitHubBot({ flows: [echoFlow] });
let n = 0;

async function post(event: string, payload: unknown, headers: Record<string, string> = {}) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  return fetch(`${h.bot.baseUrl}/api/github/webhooks`, {
    method: "POST",
    headers: { ...(await signedHeaders(event, `ing-${++n}`, body)), ...headers },
    body,
  });
}

function comment(body: string, patch: (p: any) => void = () => undefined) {
  return githubExample("issue_comment", "created", (p) => {
    p.comment.id = 7_000_000 + ++n;
    p.comment.body = body;
    patch(p);
  });
}

async function count(sql: string): Promise<number> {
  const { rows } = await h.database.db.query<{ n: number }>(sql);
  return rows[0]!.n;
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe("webhook verification and parsing", () => {
  it("a bad signature is refused with 401 and makes no session", async () => {
    const res = await post("issue_comment", comment("@forgebot hi"), { "x-hub-signature-256": "sha256=" + "0".repeat(64) });
    expect(res.status).toBe(401);
    const unsigned = await fetch(`${h.bot.baseUrl}/api/github/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": "u1" },
      body: JSON.stringify(comment("@forgebot hi")),
    });
    expect(unsigned.status).toBe(401);
    expect(await count("SELECT count(*)::int AS n FROM webhook_deliveries")).toBe(0);
  });

  it("malformed JSON (correctly signed) is a 400", async () => {
    const res = await post("issue_comment", '{"action": "created", ');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "body is not valid JSON" });
  });

  it("missing event or delivery headers are a 400; wrong content type a 415", async () => {
    const body = JSON.stringify(comment("@forgebot hi"));
    const noEvent = await fetch(`${h.bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(noEvent.status).toBe(400);
    const form = await post("issue_comment", comment("@forgebot hi"), { "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
  });

  it("an event we do not handle is acknowledged and ignored", async () => {
    const res = await post("push", { ref: "refs/heads/main" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome: "unhandled_event" });
  });

  it("a body over the size limit is a 413", async () => {
    const small = await startTestBot({ databaseUrl: h.database.url, env: { MAX_WEBHOOK_BYTES: "2048" }, roles: { web: true, workers: false } });
    try {
      const body = JSON.stringify(comment("@forgebot " + "x".repeat(4096)));
      const res = await fetch(`${small.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "big", body), body });
      expect(res.status).toBe(413);
    } finally {
      await small.stop();
    }
  });
});

describe("who and what is answered", () => {
  const skipped: [string, () => Record<string, any>, string][] = [
    ["the bot's own comment", () => comment("@forgebot hi", (p) => { p.comment.user.login = "forgebot[bot]"; p.sender.login = "forgebot[bot]"; }), "self"],
    ["another bot", () => comment("@forgebot hi", (p) => { p.sender.type = "Bot"; p.comment.user.type = "Bot"; }), "bot_sender"],
    ["a mention inside a code block", () => comment("Try this:\n\n```\n@forgebot help\n```"), "no_mention"],
    ["a mention inside a quote", () => comment("> @forgebot help\n\nas they said"), "no_mention"],
    ["an edited comment", () => githubExample("issue_comment", "edited", (p) => { p.comment.body = "@forgebot hi"; }), "edited"],
    ["no mention at all", () => comment("LGTM"), "no_mention"],
  ];
  it.each(skipped)("%s makes no session", async (_name, payload, outcome) => {
    const res = await post("issue_comment", payload());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome });
    await waitForQuiet(h.bot);
    expect(await count("SELECT count(*)::int AS n FROM sessions")).toBe(0);
    expect(h.fake.writes()).toHaveLength(0);
  });

  it("a read-only commenter gets one explanation per thread and no session", async () => {
    h.fake.permissions.set("reader", "read");
    const first = comment("@forgebot please explain", (p) => { p.comment.user.login = "reader"; p.comment.user.id = 555; p.sender.login = "reader"; });
    const second = comment("@forgebot again?", (p) => { p.comment.user.login = "reader"; p.comment.user.id = 555; p.sender.login = "reader"; });
    expect((await post("issue_comment", first)).status).toBe(202);
    await waitFor("explanation", () => h.fake.live().find((c) => c.body.includes("denied actor=555")));
    expect((await post("issue_comment", second)).status).toBe(202);
    await waitFor("second delivery processed", async () => (await count("SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'denied'")) === 2);
    const notes = h.fake.live();
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain("@reader only people with write access can use @forgebot");
    expect(await count("SELECT count(*)::int AS n FROM sessions")).toBe(0);
  });

  it("maintain is allowed, triage is not", async () => {
    h.fake.permissions.set("maint", "maintain");
    h.fake.permissions.set("triager", "triage");
    await post("issue_comment", comment("@forgebot hi from maint", (p) => { p.comment.user.login = "maint"; p.comment.user.id = 601; }));
    await post("issue_comment", comment("@forgebot hi from triage", (p) => { p.comment.user.login = "triager"; p.comment.user.id = 602; }));
    await waitFor("maintainer reply", () => h.fake.live().find((c) => c.body.includes("Echo: hi from maint")));
    await waitFor("triage explanation", () => h.fake.live().find((c) => c.body.includes("denied actor=602")));
    expect(await count("SELECT count(*)::int AS n FROM sessions WHERE actor_login = 'triager'")).toBe(0);
  });
});

describe("deleting the started note", () => {
  it.each([
    ["500 on every attempt", 500, "started_note_delete_failed", "failed"],
    ["404", 404, "started_note_deleted", "already_gone"],
    ["403", 403, "started_note_delete_failed", "failed"],
  ] as const)("%s → the reply still posts and the outcome is recorded", async (_name, status, eventKind, outcome) => {
    const before = await metricValue("forgebot_started_note_deletions_total", { forge: "github", outcome });
    h.fake.interceptors.push((r) => (r.method === "DELETE" ? [status, { message: "nope" }] : undefined));
    await post("issue_comment", comment(`@forgebot delete fails with ${status}`));
    const reply = await waitFor("reply", () => h.fake.live().find((c) => c.body.includes("forgebot:reply")));
    expect(reply.body).toContain(`Echo: delete fails with ${status}`);
    const sessionId = Number(/session=(\d+)/.exec(reply.body)![1]);
    // The reply is on the forge a moment before its event is recorded.
    const kinds = await waitFor("reply event", async () => {
      const { rows } = await h.database.db.query<{ kind: string }>("SELECT kind FROM session_events WHERE session_id = $1 ORDER BY id", [sessionId]);
      const list = rows.map((r) => r.kind);
      return list.includes("reply_posted") ? list : null;
    });
    expect(kinds).toContain(eventKind);
    expect(kinds.filter((k) => k === "reply_posted")).toHaveLength(1);
    expect(kinds.indexOf(eventKind)).toBeLessThan(kinds.indexOf("reply_posted"));
    expect(await metricValue("forgebot_started_note_deletions_total", { forge: "github", outcome })).toBe(before + 1);
  });
});
