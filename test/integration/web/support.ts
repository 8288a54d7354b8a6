import type { Forgebot } from "../../../src/app.js";
import type { RepoVisibility, ThreadRef } from "../../../src/sessions/forge-port.js";
import type { Flow } from "../../../src/sessions/flow.js";
import { signSessionId } from "../../../src/sessions/links.js";
import type { Session, SessionUsage } from "../../../src/sessions/session.js";
import type { Db } from "../../../src/storage/pool.js";

/** SESSION_LINK_SECRET of test bots (test/helpers/bot.ts). */
export const LINK_SECRET = "test-link-secret";

export function signedPath(id: number, suffix = "", secret = LINK_SECRET): string {
  return `/sessions/${id}${suffix}?sig=${signSessionId(secret, id)}`;
}

/**
 * An issue thread in the example repository, reachable through FakeGitHub (installation 4242).
 * Public unless said otherwise; `null` records no visibility, as sessions from before it was kept.
 */
export function issueThread(number: number, visibility: RepoVisibility | null = "public"): ThreadRef {
  return { forge: "github", host: "github.com", repoId: "186853002", repoPath: "Codertocat/Hello-World", installationId: 4242, kind: "issue", number, ...(visibility ? { visibility } : {}) };
}

let triggers = 0;

export type SessionSeed = {
  prompt?: string;
  number?: number;
  login?: string;
  /** Where to leave the session: created (default), running, finished, failed, stopped, input_required. */
  status?: "created" | "running" | "finished" | "failed" | "stopped" | "input_required";
  result?: string;
  errorReason?: string;
  usage?: SessionUsage;
  model?: Record<string, unknown>;
  /** Mark the reply as delivered, as the lifecycle would have. */
  delivered?: boolean;
  /** The repository's visibility (default public; null: none recorded, read as private). */
  visibility?: RepoVisibility | null;
};

/**
 * Creates a session straight through the store (no webhook, no queue), moved through the state
 * machine to `status`, as the lifecycle would have left it.
 */
export async function seedSession(bot: Forgebot, seed: SessionSeed = {}): Promise<Session> {
  const store = bot.deps.sessions;
  const key = `seed-${process.pid}-${++triggers}-${Date.now()}`;
  const { session } = await store.createSession({
    thread: issueThread(seed.number ?? 1, seed.visibility === undefined ? "public" : seed.visibility),
    triggerKey: key,
    triggerCommentId: key,
    actor: { id: "21031067", login: seed.login ?? "Codertocat" },
    command: "chat",
    prompt: seed.prompt ?? "what does this issue ask for?",
    flow: "chat",
    parentSessionId: null,
    origin: "mention",
    title: "Spelling error in the README file",
    threadUrl: `https://github.com/Codertocat/Hello-World/issues/${seed.number ?? 1}`,
    triggerCreatedAt: new Date().toISOString(),
  });
  const status = seed.status ?? "created";
  if (seed.model || seed.usage) {
    await store.update(session.id, { ...(seed.model ? { selectedModelMetadata: seed.model } : {}), ...(seed.usage ? { usage: seed.usage } : {}) });
  }
  if (status === "created") return store.getSession(session.id);
  await store.transition(session.id, "start", { run: 1 });
  if (seed.result !== undefined) await store.update(session.id, { result: seed.result });
  if (status === "finished") await store.transition(session.id, "finish");
  if (status === "input_required") await store.transition(session.id, "require_input");
  if (status === "failed" || status === "stopped") {
    await store.update(session.id, { errorReason: seed.errorReason ?? (status === "stopped" ? "stopped" : "internal") });
    await store.addEvent(session.id, "error", { reason: seed.errorReason ?? "internal", detail: "model call failed: 503 upstream" });
    await store.transition(session.id, status === "failed" ? "drop" : "stop", { reason: seed.errorReason ?? "internal" });
  }
  if (seed.delivered) await markDelivered(bot, session.id);
  return store.getSession(session.id);
}

/** Records a delivered reply (so the stream may end and the reaper leaves the session alone). */
export async function markDelivered(bot: Forgebot, id: number): Promise<void> {
  const store = bot.deps.sessions;
  const session = await store.getSession(id);
  await store.update(id, {
    replyNoteId: "1",
    startedNoteDeletedAt: new Date(),
    callbackContext: { ...session.callbackContext, replyNote: { id: "1", type: "issue_comment" }, replyRun: session.runSeq },
  });
  await store.addEvent(id, "reply_posted", { noteId: "1", run: session.runSeq });
}

/** Writes a checkpoint the way the agent does: the step's delta, model and usage. */
export async function addCheckpoint(db: Db, sessionId: number, seq: number, delta: unknown, usage: Record<string, unknown> = {}): Promise<void> {
  await db.query("INSERT INTO checkpoints (session_id, seq, parent_seq, delta, model, usage) VALUES ($1, $2, $3, $4, $5, $6)", [
    sessionId,
    seq,
    seq > 1 ? seq - 1 : null,
    JSON.stringify(delta),
    { name: "primary", provider: "openai", model: "gpt-4.1-mini" },
    usage,
  ]);
  await db.query("UPDATE sessions SET updated_at = now() WHERE id = $1", [sessionId]);
}

/** An AI SDK step: assistant text plus one tool call and its result. */
export function toolStep(text: string, toolName: string, input: unknown, output: unknown): unknown {
  return {
    kind: "step",
    run: 1,
    finishReason: "tool-calls",
    messages: [
      { role: "assistant", content: [{ type: "text", text }, { type: "tool-call", toolCallId: "call-1", toolName, input }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call-1", toolName, output: { type: "json", value: output } }] },
    ],
  };
}

/**
 * A `chat` flow the test controls: each run waits until `release()` (runs after the release
 * pass straight through) and answers with `answer(prompt)`.
 */
export function gatedFlow(answer: (prompt: string) => string = (p) => `Echo: ${p}`): { flow: Flow; release(): void; runs: number[] } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const runs: number[] = [];
  const flow: Flow = {
    name: "chat",
    async run(session, context) {
      runs.push(session.id);
      await Promise.race([
        gate,
        new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason), { once: true })),
      ]);
      return { kind: "finished", markdown: answer(session.prompt) };
    },
  };
  return { flow, release: () => open(), runs };
}

export type SseEvent = { event: string; data: unknown; id: string | null };

/** Reads Server-Sent Events from a fetch response, a step at a time. */
export class SseReader {
  readonly events: SseEvent[] = [];
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(res: Response) {
    this.#reader = res.body!.getReader();
  }

  /** Reads until `done(events)` holds or the stream ends; returns every event so far. */
  async until(done: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
    while (!done(this.events) && !this.ended) {
      const { value, done: finished } = await this.#reader.read();
      if (finished) {
        this.ended = true;
        break;
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = this.#buffer.indexOf("\n\n")) >= 0) {
        const block = this.#buffer.slice(0, cut);
        this.#buffer = this.#buffer.slice(cut + 2);
        const fields = Object.fromEntries(
          block
            .split("\n")
            .filter((line) => line && !line.startsWith(":"))
            .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trimStart()]),
        );
        if (fields.event) this.events.push({ event: fields.event, data: JSON.parse(fields.data ?? "null") as unknown, id: fields.id ?? null });
      }
    }
    return this.events;
  }

  /** Reads to the end of the stream. */
  toEnd(): Promise<SseEvent[]> {
    return this.until(() => false);
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}
