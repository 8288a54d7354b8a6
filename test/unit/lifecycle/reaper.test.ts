import { githubProfile } from "../../../src/forges/github/profile.js";
import { describe, expect, it } from "@jest/globals";
import type { ForgeClient, ThreadRef } from "../../../src/sessions/forge-port.js";
import type { LifecycleDeps, LifecycleMetrics, Logger } from "../../../src/sessions/ports.js";
import { reapOnce, startReaper } from "../../../src/lifecycle/reaper.js";
import { SessionBusyError } from "../../../src/sessions/errors.js";
import type { PatchEvent, ReaperStore, SessionPatch, TimedOutSession, UnfinishedDelivery } from "../../../src/sessions/ports.js";
import type { Session } from "../../../src/sessions/session.js";

/** The reaper's own logic over fakes; its SQL is tested against Postgres in test/integration/observability. */
const thread: ThreadRef = { forge: "github", host: "github.com", repoId: "1", repoPath: "octo/hello", installationId: 9, kind: "issue", number: 3 };

function session(overrides: Partial<Session> = {}): Session {
  return {
    id: 11, forge: "github", host: "github.com", repoId: "1", repoPath: "octo/hello", threadKind: "issue", threadNumber: 3,
    triggerKey: "t", triggerCommentId: "c", actor: { id: "1", login: "octocat" }, command: "chat", prompt: "hi", flow: "chat",
    status: "finished", runSeq: 1, startedNoteId: "501", startedNoteDeletedAt: null, replyNoteId: "502", parentSessionId: null,
    origin: "mention", conversationKey: "k", selectedModelMetadata: null,
    callbackContext: { thread, title: "T", threadUrl: undefined, triggerCreatedAt: "2024-01-01T00:00:00Z", startedNote: { id: "501", type: "issue_comment" }, replyNote: { id: "502", type: "issue_comment" }, replyRun: 1 },
    usage: {}, result: "done", errorReason: null, createdAt: new Date(Date.now() - 60_000), updatedAt: new Date(), finishedAt: new Date(),
    ...overrides,
  };
}

function fakes(options: { enqueue?: (id: number, run: number) => Promise<void>; stored?: Session } = {}) {
  const calls: string[] = [];
  const metric = (name: string) => (...args: unknown[]) => void calls.push(`${name}(${args.filter((a) => typeof a === "string").join(",")})`);
  const metrics: LifecycleMetrics = {
    startedNoteDeleted: metric("startedNoteDeleted"),
    replyDelivered: metric("replyDelivered"),
    sessionTransition: metric("sessionTransition"),
    startedNoteLatency: metric("startedNoteLatency"),
    sessionFinished: metric("sessionFinished"),
    trackedError: metric("trackedError"),
    reaperAction: metric("reaperAction"),
    retryRequested: metric("retryRequested"),
  };
  const log: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, child: () => log };
  let stored = options.stored ?? session();
  const client: ForgeClient = {
    canUseBot: async () => true,
    postNote: async () => {
      calls.push("postNote");
      return { id: "999", type: "issue_comment" };
    },
    findNoteByMarker: async () => null,
    deleteNote: async (_t, note) => void calls.push(`deleteNote(${note.id})`),
  };
  const unused = () => {
    throw new Error("not used by the reaper");
  };
  const deps = {
    sessions: {
      withLock: <T>(_id: number, fn: (session: Session, claim: { firstClaim: boolean }) => Promise<T>, intent?: { kind: string }) => {
        if (intent) calls.push(`claim(${intent.kind})`);
        return fn(stored, { firstClaim: true });
      },
      getSession: async () => stored,
      update: async (_id: number, patch: SessionPatch, event?: PatchEvent | PatchEvent[]) => {
        const { contextPatch, ...columns } = patch;
        stored = { ...stored, ...columns, callbackContext: { ...stored.callbackContext, ...contextPatch } } as Session;
        for (const e of event === undefined ? [] : Array.isArray(event) ? event : [event]) calls.push(`event(${e.kind})`);
        return stored;
      },
      addEvent: async (_id: number, kind: string) => void calls.push(`event(${kind})`),
      claimIntent: async (_id: number, kind: string) => (calls.push(`event(${kind})`), true),
    },
    queue: { enqueueDeliver: options.enqueue ?? (async (id: number, run: number) => void calls.push(`enqueueDeliver(${id},${run})`)) },
    forges: { forgeFor: () => ({ name: "github", profile: githubProfile, clientFor: async () => client }), handleFor: () => "forgebot", requestIn: () => null, profileFor: () => githubProfile },
    links: { sessionUrl: (id: number) => `http://forgebot.test/sessions/${id}` },
    metrics,
    log,
    deliveries: unused,
    flows: unused,
    retryPolicy: unused,
  } as unknown as LifecycleDeps;
  return { deps, calls, stored: () => stored };
}

function store(timedOut: TimedOutSession[], unfinished: UnfinishedDelivery[]) {
  const asked: unknown[][] = [];
  const s: ReaperStore = {
    failStaleSessions: async (...args) => (asked.push(["stale", ...args]), timedOut.splice(0)),
    claimUnfinishedDeliveries: async (...args) => (asked.push(["unfinished", ...args]), unfinished.splice(0)),
  };
  return { store: s, asked };
}

const stale = (id: number): TimedOutSession => ({ id, flow: "chat", runSeq: 2, forge: "github", repoPath: "octo/hello", previousStatus: "running", lastHeartbeat: new Date(Date.now() - 31 * 60_000), createdAt: new Date(Date.now() - 40 * 60_000) });

describe("reapOnce", () => {
  it("counts each timed-out session and queues its timeout reply; a failed enqueue does not stop the pass", async () => {
    const { deps, calls } = fakes({
      enqueue: async (id, run) => {
        if (id === 1) throw new Error("Redis is away");
        calls.push(`enqueueDeliver(${id},${run})`);
      },
    });
    const { store: s, asked } = store([stale(1), stale(2)], []);
    const result = await reapOnce(deps, s, { heartbeatTimeoutMs: 30 * 60_000 });
    expect(result).toEqual({ timedOut: [1, 2], deliveriesRetried: [] });
    expect(asked).toEqual([
      ["stale", 30 * 60_000, 50],
      ["unfinished", 10 * 60_000, 6, 20],
    ]);
    expect(calls).toEqual([
      "reaperAction(session_timed_out)", "sessionTransition(failed)", "sessionFinished(github,failed,chat)", "trackedError(reaper)",
      "reaperAction(session_timed_out)", "sessionTransition(failed)", "sessionFinished(github,failed,chat)", "enqueueDeliver(2,2)",
    ]);
  });

  it("retries the started-note deletion of an answered session without answering again", async () => {
    const { deps, calls, stored } = fakes();
    const { store: s } = store([], [{ id: 11, runSeq: 1, forge: "github", repoPath: "octo/hello", notePending: true, replyMissing: false }]);
    expect(await reapOnce(deps, s, { heartbeatTimeoutMs: 60_000 })).toEqual({ timedOut: [], deliveriesRetried: [11] });
    expect(calls).toEqual(["reaperAction(delivery_retried)", "claim(reply_intent)", "deleteNote(501)", "startedNoteDeleted(github,deleted)", "event(started_note_deleted)"]);
    expect(stored().startedNoteDeletedAt).toBeInstanceOf(Date);
  });

  it("posts the reply of an ended session that never got one", async () => {
    const { deps, calls } = fakes({ stored: session({ replyNoteId: null, startedNoteDeletedAt: new Date(), callbackContext: { thread, title: "T", threadUrl: undefined, triggerCreatedAt: "x", startedNote: { id: "501", type: "issue_comment" } } }) });
    const { store: s } = store([], [{ id: 11, runSeq: 1, forge: "github", repoPath: "octo/hello", notePending: false, replyMissing: true }]);
    await reapOnce(deps, s, { heartbeatTimeoutMs: 60_000 });
    expect(calls).toEqual(["reaperAction(delivery_retried)", "claim(reply_intent)", "postNote", "event(reply_posted)", "replyDelivered(github,posted)"]);
  });

  it("counts a retry that fails and goes on", async () => {
    const { deps, calls } = fakes();
    deps.sessions.withLock = async () => {
      throw new Error("connection lost");
    };
    const { store: s } = store([], [{ id: 11, runSeq: 1, forge: "github", repoPath: "octo/hello", notePending: true, replyMissing: false }]);
    expect(await reapOnce(deps, s, { heartbeatTimeoutMs: 60_000 })).toEqual({ timedOut: [], deliveriesRetried: [11] });
    expect(calls).toEqual(["reaperAction(delivery_retried)", "trackedError(reaper)"]);
  });
  it("leaves a session to the worker holding its note lock, without counting an error", async () => {
    const { deps, calls } = fakes();
    deps.sessions.withLock = async () => {
      throw new SessionBusyError("session 11 is being handled by another worker");
    };
    const { store: s } = store([], [{ id: 11, runSeq: 1, forge: "github", repoPath: "octo/hello", notePending: true, replyMissing: false }]);
    expect(await reapOnce(deps, s, { heartbeatTimeoutMs: 60_000 })).toEqual({ timedOut: [], deliveriesRetried: [11] });
    expect(calls).toEqual(["reaperAction(delivery_retried)"]);
  });
});

describe("startReaper", () => {
  it("runs passes one at a time, survives a failing pass, and stop() waits for the pass in flight", async () => {
    const { deps, calls } = fakes();
    let running = 0;
    let maxRunning = 0;
    let passes = 0;
    let finishSlowPass: () => void = () => undefined;
    const s: ReaperStore = {
      async failStaleSessions() {
        passes++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        try {
          if (passes === 1) throw new Error("Postgres restarting");
          if (passes === 3) await new Promise<void>((resolve) => (finishSlowPass = resolve));
          return [];
        } finally {
          running--;
        }
      },
      claimUnfinishedDeliveries: async () => [],
    };
    const reaper = startReaper(deps, s, { heartbeatTimeoutMs: 60_000, intervalMs: 5 });
    await waitUntil(() => passes === 3);
    let stopped = false;
    const stopping = reaper.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(stopped).toBe(false);
    finishSlowPass();
    await stopping;
    const after = passes;
    await new Promise((r) => setTimeout(r, 30));
    expect({ passes, maxRunning, failures: calls.filter((c) => c === "trackedError(reaper)").length }).toEqual({ passes: after, maxRunning: 1, failures: 1 });
    expect(after).toBe(3);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error("condition never held");
}
