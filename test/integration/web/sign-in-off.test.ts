import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startForgebot, type Forgebot } from "../../../src/app.js";
import { loadConfig } from "../../../src/config/index.js";
import { createLogger } from "../../../src/logging/logger.js";
import { testEnv } from "../../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { formTokenFor, postForm } from "../../helpers/sign-in.js";
import { LINK_SECRET, seedSession, signedPath } from "./support.js";

/**
 * First contact: no GITHUB_CLIENT_ID / GITLAB_OAUTH_*. Public sessions work as before; a
 * private session's link shows its status only; the buttons become "write @forgebot retry (or
 * stop) in the thread"; start-up says in one line that sign-in is off and what that means.
 */

let database: TestDatabase;
let bot: Forgebot;
let baseUrl: string;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig(testEnv({ databaseUrl: database.url, env: { LOG_LEVEL: "info" } }));
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  bot = await startForgebot(config, { roles: { web: true, workers: false }, log: createLogger("info", capture) });
  baseUrl = `http://127.0.0.1:${bot.port ?? 0}`;
});

afterAll(async () => {
  await bot.stop();
  await database.drop();
});

describe("without sign-in configured", () => {
  it("logs one line at start saying sign-in is off and what that means", () => {
    const off = lines.filter((l) => String(l.msg).startsWith("sign-in is off"));
    expect(off).toHaveLength(1);
    expect(off[0]).toMatchObject({ forges: ["github"], set: ["GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET"] });
    expect(off[0]!.msg).toContain("private and internal ones show their status only");
  });

  it("shows a private session's status only: the page says so, JSON and the stream answer 403 with the status alone", async () => {
    const session = await seedSession(bot, { status: "finished", prompt: "the private question", result: "the private answer", delivered: true, visibility: "private" });
    const page = await fetch(`${baseUrl}${signedPath(session.id)}`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain(`Session ${session.id}: Finished`);
    expect(html).toContain("sign-in with GitHub is not set up here, so only its status is shown");
    for (const secret of ["the private question", "the private answer", "Codertocat", "Spelling error"]) expect(html).not.toContain(secret);

    const api = await fetch(`${baseUrl}/api${signedPath(session.id)}`);
    expect(api.status).toBe(403);
    expect(await api.json()).toEqual({ error: "sign-in is not set up for this forge; only the status is shown", id: session.id, status: "finished" });
    const stream = await fetch(`${baseUrl}${signedPath(session.id, "/events")}`);
    expect(stream.status).toBe(403);
    expect(await stream.text()).not.toContain("private question");
  });

  it("shows public sessions as before, with the thread's commands instead of buttons, and refuses button POSTs", async () => {
    const ended = await seedSession(bot, { status: "finished", prompt: "public question", delivered: true });
    const running = await seedSession(bot, { status: "running" });
    const html = await (await fetch(`${baseUrl}${signedPath(ended.id)}`)).text();
    expect(html).toContain("public question");
    expect(html).toContain("Write <code>@forgebot retry</code> in the thread to run this request again.");
    expect(html).not.toContain("<form");
    expect(html).not.toContain("Sign in");
    expect(await (await fetch(`${baseUrl}${signedPath(running.id)}`)).text()).toContain("Write <code>@forgebot stop</code> in the thread to stop this session.");

    const retry = await postForm(`${baseUrl}${signedPath(ended.id, "/retry")}`, { token: formTokenFor(LINK_SECRET, "C".repeat(43), `retry:${ended.id}`) });
    expect(retry.status).toBe(403);
    expect(await retry.text()).toContain("write @forgebot retry in the thread instead");
    const stop = await postForm(`${baseUrl}${signedPath(running.id, "/stop")}`, { token: "x" });
    expect(stop.status).toBe(403);
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE parent_session_id IS NOT NULL");
    expect(rows[0]!.n).toBe(0);
    expect((await bot.deps.sessions.getSession(running.id)).status).toBe("running");
    expect((await fetch(`${baseUrl}/auth/github`, { redirect: "manual" })).status).toBe(404);
  });
});
