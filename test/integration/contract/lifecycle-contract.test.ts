import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { ForgeName } from "../../../src/sessions/forge-port.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { waitForQuiet } from "../../helpers/quiet.js";
import { githubHarness, gitlabHarness, type BotNote, type ForgeHarness } from "./harnesses.js";

/**
 * The lifecycle every forge must show, written once and run against the GitHub and the GitLab
 * implementation through the same bot: a table of scenarios × a list of forge harnesses.
 */

/** Echoes the prompt; "blank" answers blank; "slow" runs until the session is stopped. */
const contractFlow: Flow = {
  name: "chat",
  async run(session, context) {
    if (session.prompt === "slow") {
      await new Promise((_resolve, reject) => {
        if (context.signal.aborted) reject(context.signal.reason);
        context.signal.addEventListener("abort", () => reject(context.signal.reason), { once: true });
      });
    }
    return { kind: "finished", markdown: session.prompt === "blank" ? "  " : `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let bot: TestBot;
const webhookUrl = (forge: ForgeName) => () => `${bot.baseUrl}/api/${forge}/webhooks`;
const harnesses: ForgeHarness[] = [githubHarness(webhookUrl("github")), gitlabHarness(webhookUrl("gitlab"))];

type SessionRow = { id: number; status: string; parent_session_id: number | null; prompt: string; started_note_deleted_at: Date | null };

async function sessionsIn(forge: ForgeName, thread: number): Promise<SessionRow[]> {
  const { rows } = await database.db.query<SessionRow>(
    "SELECT id::int, status, parent_session_id::int, prompt, started_note_deleted_at FROM sessions WHERE forge = $1 AND thread_number = $2 ORDER BY id",
    [forge, thread],
  );
  return rows;
}

async function eventKinds(sessionId: number): Promise<string[]> {
  const { rows } = await database.db.query<{ kind: string }>("SELECT kind FROM session_events WHERE session_id = $1 ORDER BY id", [sessionId]);
  return rows.map((r) => r.kind);
}

const isReply = (n: BotNote) => n.body.includes("forgebot:reply");
const isStarted = (n: BotNote) => n.body.includes("forgebot:started");
const replies = (h: ForgeHarness, thread: number) => h.botNotes(thread).filter((n) => isReply(n) && !n.deleted);
const sessionLink = /\[View session\]\(http:\/\/forgebot\.test\/sessions\/(\d+)\?sig=[\w-]+\)/;

type Scenario = { name: string; run(h: ForgeHarness, thread: number): Promise<void> };

const scenarios: Scenario[] = [
  {
    name: "a mention gets a started note, then a reply with the session link in the same place",
    async run(h, thread) {
      expect((await h.mention({ thread, body: "@forgebot explain this" })).status).toBe(202);
      const reply = await waitFor("reply", () => replies(h, thread)[0]);
      const started = h.botNotes(thread).find(isStarted)!;
      const sessionId = /^Started session (\d+) and will let you know when it's finished\./.exec(started.body)?.[1];
      expect(sessionId).toBeDefined();
      expect(reply.body).toContain("Echo: explain this");
      expect(sessionLink.exec(reply.body)?.[1]).toBe(sessionId);
      expect(sessionLink.exec(started.body)?.[1]).toBe(sessionId);
      expect([started.placement, reply.placement]).toEqual([h.placement(thread), h.placement(thread)]);
      expect(h.botNotes(thread)).toHaveLength(2);
    },
  },
  {
    name: "the started note is deleted before the reply is posted",
    async run(h, thread) {
      await h.mention({ thread, body: "@forgebot tidy up after yourself" });
      await waitFor("reply", () => replies(h, thread)[0]);
      expect(h.writes()).toEqual(["post", "delete", "post"]);
      expect(h.botNotes(thread).find(isStarted)?.deleted).toBe(true);
      const [session] = await waitFor("deletion saved", async () => ((await sessionsIn(h.forge, thread))[0]?.started_note_deleted_at ? sessionsIn(h.forge, thread) : null));
      expect(await eventKinds(session!.id)).toContain("started_note_deleted");
    },
  },
  {
    name: "a blank result posts the link alone",
    async run(h, thread) {
      await h.mention({ thread, body: "@forgebot blank" });
      const reply = await waitFor("reply", () => replies(h, thread)[0]);
      expect(reply.body.trim()).toMatch(/^\[View session\]\([^)]+\)\n\n<!-- forgebot:reply session=\d+ -->$/);
    },
  },
  {
    name: "a failed delete is recorded and the reply still goes out",
    async run(h, thread) {
      h.failDeletes();
      await h.mention({ thread, body: "@forgebot answer anyway" });
      const reply = await waitFor("reply", () => replies(h, thread)[0]);
      expect(reply.body).toContain("Echo: answer anyway");
      expect(h.botNotes(thread).find(isStarted)?.deleted).toBe(false);
      const [session] = await sessionsIn(h.forge, thread);
      expect(await waitFor("failure event", async () => (await eventKinds(session!.id)).includes("started_note_delete_failed"))).toBe(true);
      expect((await sessionsIn(h.forge, thread))[0]!.started_note_deleted_at).toBeNull();
    },
  },
  {
    name: "the same delivery twice makes one session and one answer",
    async run(h, thread) {
      const first = await h.mention({ thread, body: "@forgebot only once", deliveryKey: `dup-${h.forge}-${thread}` });
      const second = await h.mention({ thread, body: "@forgebot only once", deliveryKey: `dup-${h.forge}-${thread}` });
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(await second.json()).toEqual({ outcome: "duplicate" });
      await waitFor("reply", () => replies(h, thread)[0]);
      await waitForQuiet(bot);
      expect(await sessionsIn(h.forge, thread)).toHaveLength(1);
      expect(h.botNotes(thread).filter(isStarted)).toHaveLength(1);
      expect(replies(h, thread)).toHaveLength(1);
    },
  },
  {
    name: "someone who may not write gets one explanation and no session",
    async run(h, thread) {
      const outsider = { id: "4242", login: "outsider" };
      h.deny(outsider);
      await h.mention({ thread, body: "@forgebot do my bidding", author: outsider });
      await h.mention({ thread, body: "@forgebot please?", author: outsider });
      await waitFor("both deliveries handled", async () => {
        const { rows } = await database.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM webhook_deliveries WHERE forge = $1 AND status = 'denied' AND (mention->'thread'->>'number')::int = $2",
          [h.forge, thread],
        );
        return rows[0]!.n === 2;
      });
      const notes = h.botNotes(thread);
      expect(notes).toHaveLength(1);
      expect(notes[0]!.body).toMatch(/^@outsider only .+ can use @forgebot here, so I didn't start a session\./);
      expect(notes[0]!.placement).toBe(h.placement(thread));
      expect(await sessionsIn(h.forge, thread)).toHaveLength(0);
    },
  },
  {
    name: "stop ends the running session with the stopped text",
    async run(h, thread) {
      await h.mention({ thread, body: "@forgebot slow" });
      await waitFor("running", async () => (await sessionsIn(h.forge, thread))[0]?.status === "running");
      await h.mention({ thread, body: "@forgebot stop" });
      const reply = await waitFor("reply", () => replies(h, thread)[0]);
      expect(reply.body).toContain("This session was stopped.");
      expect(reply.placement).toBe(h.placement(thread));
      expect((await sessionsIn(h.forge, thread)).map((s) => s.status)).toEqual(["stopped"]);
      expect(h.botNotes(thread).find(isStarted)?.deleted).toBe(true);
    },
  },
  {
    name: "retry runs the previous request again as a child session",
    async run(h, thread) {
      await h.mention({ thread, body: "@forgebot first request" });
      await waitFor("first reply", () => replies(h, thread)[0]);
      await h.mention({ thread, body: "@forgebot retry" });
      await waitFor("second reply", () => replies(h, thread)[1]);
      const [parent, child] = await sessionsIn(h.forge, thread);
      expect(child).toMatchObject({ parent_session_id: parent!.id, prompt: "first request" });
      expect(replies(h, thread).map((n) => n.body.includes("Echo: first request"))).toEqual([true, true]);
      expect(sessionLink.exec(replies(h, thread)[1]!.body)?.[1]).toBe(String(child!.id));
    },
  },
];

beforeAll(async () => {
  database = await createTestDatabase();
  for (const h of harnesses) h.reset();
  bot = await startTestBot({ databaseUrl: database.url, flows: [contractFlow], env: Object.assign({}, ...harnesses.map((h) => h.env)) });
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  for (const h of harnesses) h.reset();
});

describe.each(harnesses.map((h) => [h.forge, h] as const))("lifecycle contract: %s", (_forge, harness) => {
  it.each(scenarios.map((s, i) => [s.name, s, 100 + i] as const))("%s", async (_name, scenario, thread) => {
    await scenario.run(harness, thread);
  });
});
