import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { createChatFlow } from "../../../src/agent/flows/chat.js";
import { chainOf, CheckpointConflictError, CheckpointUnavailableError } from "../../../src/agent/checkpoints.js";
import { rebuildState } from "../../../src/agent/state.js";
import { checkpointOperations } from "../../../src/metrics/index.js";
import { FlowError, RunInterruptedError } from "../../../src/sessions/errors.js";
import { createCheckpointStore } from "../../../src/storage/checkpoint-store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { agentDeps, compatible, flowContext, LIMITS, memoryForge, newSession, threadRef } from "./support.js";

let database: TestDatabase;
let model: FakeOpenAI;
let thread = 400;

async function counter(op: string, outcome: string): Promise<number> {
  const metric = await checkpointOperations.get();
  return metric.values.find((v) => v.labels.op === op && v.labels.outcome === outcome)?.value ?? 0;
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI().start();
});

afterAll(async () => {
  await model.stop();
  await database.drop();
});

beforeEach(() => {
  model.requests.length = 0;
});

describe("checkpoints", () => {
  it("a 50-step session's checkpoints add up to at most twice its transcript, each sized by its step", async () => {
    const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`src/module-${i}.ts`, `export const value${i} = ${i};\n`]));
    model.script = (r) =>
      r.toolResults < 49 ? { kind: "tools", calls: [{ name: "read_file", input: { path: `src/module-${r.toolResults % 20}.ts` } }] } : { kind: "text", text: "Read all fifty." };
    const deps = await agentDeps(database.db, [compatible("solo", model.baseUrl)]);
    const session = await newSession(database.db, threadRef(++thread));
    const writesBefore = await counter("write", "ok");

    expect(await createChatFlow(deps).run(session, flowContext(memoryForge(files)))).toMatchObject({ kind: "finished", markdown: "Read all fifty.", usage: { steps: 50 } });
    expect(model.requests).toHaveLength(50);

    const { rows } = await database.db.query<{ seq: number; kind: string; bytes: number }>(
      "SELECT seq, kind, octet_length(delta::text) AS bytes FROM checkpoints WHERE session_id = $1 ORDER BY seq",
      [session.id],
    );
    expect(rows).toHaveLength(51);
    expect(await counter("write", "ok")).toBe(writesBefore + 51);
    const stored = rows.reduce((sum, r) => sum + r.bytes, 0);
    const state = rebuildState(chainOf(await createCheckpointStore(database.db).list(session.id)));
    const transcript = Buffer.byteLength(JSON.stringify(state.messages));
    expect(stored).toBeLessThanOrEqual(2 * transcript);
    // A late step's checkpoint is no bigger than an early one: size follows the step.
    const steps = rows.filter((r) => r.kind === "step").map((r) => r.bytes);
    expect(Math.max(...steps.slice(1, -1))).toBeLessThan(2 * Math.min(...steps.slice(1, -1)));
    // Measured: 51 checkpoints, ~23 KB stored for an ~18 KB transcript (ratio ~1.3).
    expect(steps.length).toBe(50);
  });

  it("a run started again continues from the last checkpoint and never repeats a recorded step", async () => {
    let hangAt = 3;
    model.script = (r) => {
      if (r.toolResults + 1 === hangAt) return { kind: "hang" };
      return r.toolResults < 4 ? { kind: "tools", calls: [{ name: "list_directory", input: {} }] } : { kind: "text", text: "done" };
    };
    const deps = await agentDeps(database.db, [compatible("solo", model.baseUrl)]);
    const session = await newSession(database.db, threadRef(++thread));
    const shutdown = new AbortController();
    const first = createChatFlow(deps).run(session, flowContext(memoryForge(), shutdown.signal));
    await new Promise<void>((resolve) => (model.onRequest = (r) => r.toolResults + 1 === 3 && resolve()));
    shutdown.abort(new RunInterruptedError("worker shutting down"));
    await expect(first).rejects.toBeInstanceOf(RunInterruptedError);
    model.onRequest = undefined;

    hangAt = 0;
    expect(await createChatFlow(deps).run(session, flowContext())).toMatchObject({ kind: "finished", markdown: "done" });
    expect([1, 2, 3, 4, 5].map((step) => model.forStep(step).length)).toEqual([1, 1, 2, 1, 1]);
    const { rows } = await database.db.query("SELECT kind, delta->>'reason' AS reason FROM checkpoints WHERE session_id = $1 ORDER BY seq", [session.id]);
    expect(rows.map((r) => r.kind)).toEqual(["start", "step", "step", "interrupted", "step", "step", "step"]);
    expect(rows[3]).toEqual({ kind: "interrupted", reason: "shutdown" });
  });

  it("the wall-clock limit ends the session with a timeout and a checkpoint", async () => {
    model.script = () => ({ kind: "hang" });
    const deps = await agentDeps(database.db, [compatible("solo", model.baseUrl)], { limits: { ...LIMITS, timeoutMs: 300 } });
    const session = await newSession(database.db, threadRef(++thread));
    const error = await createChatFlow(deps).run(session, flowContext()).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FlowError);
    expect((error as FlowError).reason).toBe("timeout");
    const { rows } = await database.db.query("SELECT kind, delta->>'reason' AS reason FROM checkpoints WHERE session_id = $1 ORDER BY seq", [session.id]);
    expect(rows).toEqual([
      { kind: "start", reason: null },
      { kind: "interrupted", reason: "timeout" },
    ]);
    await new Promise((r) => setTimeout(r, 50));
    expect(model.inFlight).toBe(0);
  });

  it("a step holding a NUL character (a tool input, model text) is stored with U+FFFD in its place", async () => {
    const store = createCheckpointStore(database.db);
    const session = await newSession(database.db, threadRef(++thread));
    const messages = [{ role: "user", content: "write a\u0000b" }];
    await store.append({
      sessionId: session.id,
      seq: 1,
      parentSeq: null,
      delta: { kind: "start", run: 1, messages, history: [] } as never,
      model: null,
      usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, durationMs: 0 },
      session: { usage: {} },
    });
    const [stored] = await store.list(session.id);
    expect(JSON.stringify(stored!.delta)).toContain("write a\uFFFDb");
  });

  it("a seq already written is refused, counted as an error, and leaves the session to its owner", async () => {
    const store = createCheckpointStore(database.db);
    const session = await newSession(database.db, threadRef(++thread));
    const checkpoint = {
      sessionId: session.id,
      seq: 1,
      parentSeq: null,
      delta: { kind: "start" as const, run: 1, messages: [], history: [] },
      model: null,
      usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, durationMs: 0 },
      session: { usage: {} },
    };
    const { rows: before } = await database.db.query("SELECT updated_at FROM sessions WHERE id = $1", [session.id]);
    await new Promise((r) => setTimeout(r, 10));
    await store.append(checkpoint);
    const { rows: after } = await database.db.query("SELECT updated_at FROM sessions WHERE id = $1", [session.id]);
    expect(after[0].updated_at.getTime()).toBeGreaterThan(before[0].updated_at.getTime());

    const errorsBefore = await counter("write", "error");
    await expect(store.append(checkpoint)).rejects.toBeInstanceOf(CheckpointConflictError);
    expect(await counter("write", "error")).toBe(errorsBefore + 1);

    // The agent, finding its next seq taken, hands the session over instead of failing it.
    model.script = () => ({ kind: "text", text: "late" });
    const racing = { ...(await agentDeps(database.db, [compatible("solo", model.baseUrl)])) };
    const stale = { ...racing, checkpoints: { ...racing.checkpoints, list: async () => [] } };
    await expect(createChatFlow(stale).run(session, flowContext())).rejects.toBeInstanceOf(RunInterruptedError);
  });

  it("transport errors count as checkpoint errors and interrupt the run for a retry instead of failing the session", async () => {
    const refused = () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }));
    const broken = createCheckpointStore({ connect: refused, query: refused } as never);
    const [writes, reads] = [await counter("write", "error"), await counter("read", "error")];
    await expect(broken.list(1)).rejects.toBeInstanceOf(CheckpointUnavailableError);
    const shaped = { sessionId: 1, seq: 0, parentSeq: null, delta: { kind: "step", run: 1 }, model: null, usage: {}, session: { usage: {} } };
    await expect(broken.append(shaped as never)).rejects.toBeInstanceOf(CheckpointUnavailableError);
    expect([await counter("write", "error"), await counter("read", "error")]).toEqual([writes + 1, reads + 1]);

    const session = await newSession(database.db, threadRef(++thread));
    const deps = await agentDeps(database.db, [compatible("solo", model.baseUrl)], { checkpoints: broken });
    await expect(createChatFlow(deps).run(session, flowContext())).rejects.toBeInstanceOf(RunInterruptedError);
    expect(model.requests).toHaveLength(0);
  });
});
