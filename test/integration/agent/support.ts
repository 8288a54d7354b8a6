import type { AgentDeps, AgentLimits } from "../../../src/agent/agent.js";
import type { ModelCallOutcome } from "../../../src/agent/models/errors.js";
import { createModelRouter } from "../../../src/agent/models/router.js";
import type { ModelSpec } from "../../../src/agent/models/spec.js";
import type { FileEntry, ForgeClient, ThreadContent, ThreadRef } from "../../../src/sessions/forge-port.js";
import { createLogger } from "../../../src/logging/logger.js";
import { githubProfile } from "../../../src/forges/github/profile.js";
import type { FlowContext } from "../../../src/sessions/flow.js";
import type { Session } from "../../../src/sessions/session.js";
import { createCheckpointStore } from "../../../src/storage/checkpoint-store.js";
import type { Db } from "../../../src/storage/pool.js";
import { createSessionStore } from "../../../src/storage/session-store.js";

/**
 * Runs the chat agent directly on a real database and real HTTP model servers, without the
 * webhook and queue around it: for tests about many sessions, checkpoints and routing.
 */

// The AI SDK prints provider warnings (unknown test model names) with console.*.
(globalThis as { AI_SDK_LOG_WARNINGS?: unknown }).AI_SDK_LOG_WARNINGS = false;

export const LIMITS: AgentLimits = { maxSteps: 100, maxTokens: 10_000_000, timeoutMs: 60_000, modelTimeoutMs: 5_000, modelRetries: 0, memoryTokens: 4_000 };

let trigger = 0;

export function threadRef(number: number): ThreadRef {
  return { forge: "github", host: "github.com", repoId: "42", repoPath: "octo/repo", installationId: 1, kind: "issue", number };
}

/** A session in `thread`, created and started the way the lifecycle does it. */
export async function newSession(db: Db, thread: ThreadRef, prompt = "what is this about?"): Promise<Session> {
  const sessions = createSessionStore(db);
  const key = `agent-test-${process.pid}-${++trigger}`;
  const { session } = await sessions.createSession({
    thread,
    triggerKey: key,
    triggerCommentId: key,
    actor: { id: "1", login: "alice" },
    command: "chat",
    prompt,
    flow: "chat",
    parentSessionId: null,
    origin: "mention",
    title: "A thread",
    threadUrl: undefined,
    triggerCreatedAt: new Date().toISOString(),
  });
  return sessions.transition(session.id, "start");
}

/** A ForgeClient whose reads answer from memory. */
export function memoryForge(files: Record<string, string> = {}): ForgeClient {
  const content: ThreadContent = { title: "A thread", body: "Body", author: "bob", url: undefined, comments: [] };
  return {
    canUseBot: async () => true,
    postNote: async () => ({ id: "1", type: "issue_comment" }),
    findNoteByMarker: async () => null,
    deleteNote: async () => undefined,
    getThread: async () => content,
    readFile: async (_t, path) => files[path] ?? "",
    listDirectory: async (): Promise<FileEntry[]> => Object.keys(files).map((path) => ({ name: path, path, type: "file" })),
  };
}

export function flowContext(forge: ForgeClient = memoryForge(), signal: AbortSignal = new AbortController().signal): FlowContext {
  return { signal, forge, handle: "forgebot", profile: githubProfile, log: createLogger("silent"), heartbeat: async () => undefined };
}

export type RecordedMetrics = { calls: [string, ModelCallOutcome][] };

export async function agentDeps(db: Db, specs: ModelSpec[], overrides: Partial<AgentDeps> = {}): Promise<AgentDeps & { recorded: RecordedMetrics }> {
  const recorded: RecordedMetrics = { calls: [] };
  return {
    router: overrides.router ?? (await createModelRouter(specs)),
    checkpoints: createCheckpointStore(db),
    sessions: createSessionStore(db),
    stickiness: async () => true,
    limits: LIMITS,
    metrics: { modelCall: (p, o) => recorded.calls.push([p, o]), modelTokens: () => undefined },
    recorded,
    ...overrides,
  };
}

export function compatible(name: string, baseUrl: string, extra: Partial<ModelSpec> = {}): ModelSpec {
  return { name, provider: "openai-compatible", model: `${name}-model`, baseUrl, apiKey: "k", weight: 1, isDefault: true, ...extra };
}
