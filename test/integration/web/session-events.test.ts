import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestBot, type TestBot } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { addCheckpoint, markDelivered, seedSession, signedPath, SseReader, toolStep, type SseEvent } from "./support.js";

type Summary = { status: string; statusLabel: string; terminal: boolean; html: string };
type Item = { key: string; html: string };

let database: TestDatabase;
let bot: TestBot;

beforeAll(async () => {
  database = await createTestDatabase();
  bot = await startTestBot({ databaseUrl: database.url, roles: { web: true, workers: false } });
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
});

async function open(path: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const res = await fetch(`${bot.baseUrl}${path}`, { headers: { accept: "text/event-stream", ...headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
  return new SseReader(res);
}

const has = (event: string) => (events: SseEvent[]) => events.some((e) => e.event === event);
const itemsOf = (events: SseEvent[]) => events.filter((e) => e.event === "item").map((e) => e.data as Item);

describe("GET /sessions/:id/events", () => {
  it("pushes new steps and the status change, then ends once the reply is delivered", async () => {
    const session = await seedSession(bot.bot, { status: "running" });
    const page = await (await fetch(`${bot.baseUrl}${signedPath(session.id)}`)).text();
    const streamPath = /data-stream="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, "&");
    const stream = await open(streamPath);

    // The stream first re-sends the summary (the page may be stale by the time it connects).
    const first = await stream.until(has("summary"));
    expect(first.find((e) => e.event === "summary")?.data).toMatchObject({ status: "running", terminal: false });
    expect(itemsOf(first)).toEqual([]);

    // New steps and status changes come in as they are written.
    await addCheckpoint(database.db, session.id, 1, toolStep("Looking at the diff.", "get_diff", {}, "diff --git a/x b/x"));
    const stepped = await stream.until((events) => itemsOf(events).some((i) => i.key === "s1"));
    const step = itemsOf(stepped).find((i) => i.key === "s1")!;
    expect(step.html).toContain("Step 1: Model step");
    expect(step.html).toContain("<code>get_diff</code>");

    await bot.bot.deps.sessions.update(session.id, { result: "All good." });
    await bot.bot.deps.sessions.transition(session.id, "finish");
    await markDelivered(bot.bot, session.id);
    const events = await stream.until(has("end"));

    const items = itemsOf(events);
    expect(items.some((i) => i.html.includes("Status: Running → Finished"))).toBe(true);
    expect(items.some((i) => i.html.includes("Reply posted"))).toBe(true);
    // No item is sent twice, and none the page already had.
    expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
    expect(items.filter((i) => page.includes(`data-key="${i.key}"`))).toEqual([]);

    const last = events.filter((e) => e.event === "summary").at(-1)!.data as Summary;
    expect(last).toMatchObject({ status: "finished", statusLabel: "Finished", terminal: true });
    expect(last.html).toContain("<p>All good.</p>");
    expect(last.html).toContain("<code>@forgebot retry</code>");
    expect(events.at(-1)).toMatchObject({ event: "end", data: { status: "finished" } });
    // Each item carries the cursor a reconnecting browser sends back as Last-Event-ID.
    expect(events.find((e) => e.event === "item")?.id).toMatch(/^\d+\.\d+$/);
    // After `end` the server closes the stream.
    await stream.toEnd();
    expect(stream.ended).toBe(true);
  });

  it("resumes after Last-Event-ID and ends at once for a session already delivered", async () => {
    const session = await seedSession(bot.bot, { status: "finished", delivered: true });
    await addCheckpoint(database.db, session.id, 1, { kind: "start", run: 1, messages: [{ role: "user", content: "hi" }] });
    await addCheckpoint(database.db, session.id, 2, { kind: "step", run: 1, messages: [{ role: "assistant", content: "hello" }] });
    const { rows } = await database.db.query<{ id: number }>("SELECT max(id)::int AS id FROM session_events WHERE session_id = $1", [session.id]);
    const stream = await open(signedPath(session.id, "/events"), { "last-event-id": `${rows[0]!.id}.1` });
    const events = await stream.toEnd();
    expect(itemsOf(events).map((i) => i.key)).toEqual(["s2"]);
    expect(events.map((e) => e.event)).toEqual(["item", "summary", "end"]);
  });

  it("ends open streams when the server stops, so stop() does not wait for them", async () => {
    const session = await seedSession(bot.bot, { status: "running" });
    const stream = await open(signedPath(session.id, "/events"));
    await stream.until(has("summary"));
    await bot.stop();
    // The server ended the stream cleanly; a forced socket close would make the read reject.
    await expect(stream.toEnd()).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ event: "summary" })]));
    expect(stream.ended).toBe(true);
  });
});
