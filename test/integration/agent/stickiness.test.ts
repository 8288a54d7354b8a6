import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createChatFlow } from "../../../src/agent/flows/chat.js";
import { createModelRouter } from "../../../src/agent/models/router.js";
import type { ModelSpec } from "../../../src/agent/models/spec.js";
import type { Session } from "../../../src/sessions/session.js";
import { createSessionStore } from "../../../src/storage/session-store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeAnthropic } from "../../helpers/fake-anthropic.js";
import { FakeOpenAI, type FakeModelServer } from "../../helpers/fake-openai.js";
import { agentDeps, compatible, flowContext, newSession, threadRef } from "./support.js";

let database: TestDatabase;
let servers: Record<"alpha" | "beta" | "gamma", FakeModelServer>;
let specs: ModelSpec[];

/** A seeded generator, so "spread" is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function served(): Record<string, number> {
  return Object.fromEntries(Object.entries(servers).map(([name, s]) => [name, s.requests.length]));
}

async function runFollowUps(thread: number, count: number, deps: Awaited<ReturnType<typeof agentDeps>>): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) {
    const session = await newSession(database.db, threadRef(thread), `question ${i}`);
    const outcome = await createChatFlow(deps).run(session, flowContext());
    expect(outcome.kind).toBe("finished");
    sessions.push(await createSessionStore(database.db).getSession(session.id));
  }
  return sessions;
}

beforeAll(async () => {
  database = await createTestDatabase();
  servers = {
    alpha: await new FakeOpenAI(() => ({ kind: "text", text: "from alpha" })).start(),
    beta: await new FakeOpenAI(() => ({ kind: "text", text: "from beta" })).start(),
    gamma: await new FakeAnthropic(() => ({ kind: "text", text: "from gamma" })).start(),
  };
  specs = [
    compatible("alpha", servers.alpha.baseUrl),
    compatible("beta", servers.beta.baseUrl),
    { name: "gamma", provider: "anthropic", model: "claude-test", baseUrl: servers.gamma.baseUrl, apiKey: "k", weight: 1, isDefault: true },
  ];
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await database.drop();
});

beforeEach(() => {
  for (const s of Object.values(servers)) {
    s.requests.length = 0;
    s.script = () => ({ kind: "text", text: "answer" });
  }
});

describe("provider stickiness", () => {
  it("on: 20 follow-up sessions in one thread all go to the provider chosen first", async () => {
    const deps = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: seeded(7) }) });
    const sessions = await runFollowUps(301, 20, deps);
    const first = sessions[0]!.selectedModelMetadata as { name: string };
    expect(served()[first.name]).toBe(20);
    expect(Object.values(served()).reduce((a, b) => a + b, 0)).toBe(20);
    for (const s of sessions) expect(s.selectedModelMetadata).toEqual(sessions[0]!.selectedModelMetadata);
  });

  it("off: the same 20 sessions spread over the providers by weight", async () => {
    const deps = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: seeded(7) }), stickiness: async () => false });
    const sessions = await runFollowUps(302, 20, deps);
    const counts = served();
    expect(Object.values(counts).filter((n) => n > 0).length).toBe(3);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(20);
    expect(new Set(sessions.map((s) => (s.selectedModelMetadata as { name: string }).name)).size).toBe(3);
  });

  it("the chosen provider failing: fall back, record the switch, and stick to the new one", async () => {
    const deps = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: seeded(11) }) });
    const [first] = await runFollowUps(303, 1, deps);
    const chosen = (first!.selectedModelMetadata as { name: keyof typeof servers }).name;
    servers[chosen].script = () => ({ kind: "error", status: 500 });
    const before = served();

    const later = await runFollowUps(303, 5, deps);
    const after = served();
    expect(after[chosen]! - before[chosen]!).toBe(1);
    const fallback = (later[0]!.selectedModelMetadata as { name: string }).name;
    expect(fallback).not.toBe(chosen);
    for (const s of later) expect((s.selectedModelMetadata as { name: string }).name).toBe(fallback);
    expect(after[fallback]! - before[fallback]!).toBe(5);

    const { rows } = await database.db.query("SELECT session_id, data FROM session_events WHERE kind = 'model_switched' AND session_id = ANY($1)", [later.map((s) => s.id)]);
    expect(rows).toEqual([{ session_id: later[0]!.id, data: { from: first!.selectedModelMetadata, to: later[0]!.selectedModelMetadata, reason: "server_error" } }]);
    expect(deps.recorded.calls).toContainEqual([chosen, "server_error"]);
  });

  it("a provider no longer configured is replaced, and the switch is recorded", async () => {
    const deps = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: () => 0 }) });
    const [first] = await runFollowUps(304, 1, deps);
    expect(first!.selectedModelMetadata).toMatchObject({ name: "alpha" });
    const withoutAlpha = await agentDeps(database.db, specs.slice(1), { router: await createModelRouter(specs.slice(1), { random: () => 0 }) });
    const [next] = await runFollowUps(304, 1, withoutAlpha);
    expect(next!.selectedModelMetadata).toMatchObject({ name: "beta" });
    const { rows } = await database.db.query("SELECT data FROM session_events WHERE kind = 'model_switched' AND session_id = $1", [next!.id]);
    expect(rows).toEqual([{ data: { from: first!.selectedModelMetadata, to: next!.selectedModelMetadata, reason: "not_configured" } }]);
  });

  it.each([
    [true, "gamma"],
    [false, "alpha"],
  ])("a resumed session (stickiness %s) is answered by %s", async (sticky, expected) => {
    const sessionsStore = createSessionStore(database.db);
    const firstRun = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: () => 0.99 }), stickiness: async () => sticky });
    servers.gamma.script = () => ({ kind: "tools", calls: [{ name: "ask_user", input: { question: "Which branch?" } }] });
    const session = await newSession(database.db, threadRef(sticky ? 305 : 306));
    expect(await createChatFlow(firstRun).run(session, flowContext())).toMatchObject({ kind: "input_required", question: "Which branch?" });
    await sessionsStore.transition(session.id, "require_input");
    servers.gamma.script = () => ({ kind: "text", text: "answer" });

    const paused = await sessionsStore.getSession(session.id);
    const input = { run: 2, text: "main", triggerKey: `answer-${session.id}`, actor: { id: "2", login: "bob" }, createdAt: new Date().toISOString() };
    await sessionsStore.update(session.id, { runSeq: 2, callbackContext: { ...paused.callbackContext, inputs: [input] } });
    const resumed = await sessionsStore.transition(session.id, "resume");
    const secondRun = await agentDeps(database.db, specs, { router: await createModelRouter(specs, { random: () => 0 }), stickiness: async () => sticky });
    expect(await createChatFlow(secondRun).run(resumed, flowContext())).toMatchObject({ kind: "finished", markdown: "answer" });
    const last = servers[expected as keyof typeof servers].requests.at(-1)!;
    expect(last.raw).toContain("Which branch?");
    expect(last.raw).toContain("@bob answered:");
  });
});
