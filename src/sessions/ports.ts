import type { Forge, ForgeName, ForgeProfile, MentionEvent, ThreadRef } from "./forge-port.js";
import type { Flow } from "./flow.js";
import type { Logger } from "./logger.js";
import type { NewSession, Session, SessionOrigin, SessionUsage } from "./session.js";
import type { SessionEvent, SessionStatus } from "./state-machine.js";

export type { Logger };

export type SessionPatch = Partial<{
  startedNoteId: string | null;
  startedNoteDeletedAt: Date | null;
  replyNoteId: string;
  result: string | null;
  errorReason: string | null;
  usage: SessionUsage;
  runSeq: number;
  selectedModelMetadata: Record<string, unknown>;
  callbackContext: Session["callbackContext"];
  /** Keys merged into the callback context (the rest of it left as it is). */
  contextPatch: Partial<Session["callbackContext"]>;
  /** A session's flow changes only when its agent switches (chat → change). */
  flow: string;
}>;

/** An event recorded in the same statement as the change it describes. */
export type PatchEvent = { kind: string; data?: Record<string, unknown> };

/** `releaseLease`: this is the lease holder's last write; the lease goes back with it. */
export type UpdateOptions = { releaseLease?: boolean };

/** What `withLock` found when it took the lease: whether it recorded the intent it was asked for. */
export type LeaseClaim = { firstClaim: boolean };

/** Postgres-backed sessions. `getX` throws when missing, `findX` returns null. */
export interface SessionStore {
  /** Inserts unless a session with the same trigger exists; `created` says which. */
  createSession(input: NewSession): Promise<{ session: Session; created: boolean }>;
  findSession(id: number): Promise<Session | null>;
  getSession(id: number): Promise<Session>;
  /**
   * Applies a state machine event with compare-and-set and records a status event (and `patch`,
   * in the same statement). Asking for the status it is in succeeds; a disallowed event throws
   * InvalidTransitionError.
   */
  transition(id: number, event: SessionEvent, data?: Record<string, unknown>, patch?: SessionPatch): Promise<Session>;
  /** Applies `patch` (and records `event`s in the same statement). */
  update(id: number, patch: SessionPatch, event?: PatchEvent | PatchEvent[], options?: UpdateOptions): Promise<Session>;
  /** Refreshes `updated_at`, the heartbeat the reaper watches. */
  touch(id: number): Promise<void>;
  addEvent(id: number, kind: string, data?: Record<string, unknown>): Promise<void>;
  /** Records an event of `kind` for `run` unless one is recorded: true for the first claim. */
  claimIntent(id: number, kind: string, run: number): Promise<boolean>;
  findLatestInConversation(conversationKey: string, statuses?: readonly SessionStatus[]): Promise<Session | null>;
  /** The newest child of `parentId` made by a retry of `origin`, or null. */
  findLatestRetry(parentId: number, origin: SessionOrigin): Promise<Session | null>;
  /**
   * Runs `fn` holding the session's note lease (a lease on the session row, renewed while `fn`
   * runs; it holds no connection), so two workers never post the same note at once — e.g. a job
   * wrongly declared stalled under load. Throws SessionBusyError when another worker holds it;
   * the job retries and then finds the note. A crashed holder's lease runs out by itself.
   */
  withLock<T>(id: number, fn: (session: Session, claim: LeaseClaim) => Promise<T>, intent?: { kind: string; run: number }): Promise<T>;
  /**
   * The waiting (`input_required`) session of a thread, and the session that already took the
   * answer with `triggerKey` (a repeated job), in one read.
   */
  findResumable(conversationKey: string, triggerKey: string): Promise<{ waiting: Session | null; applied: Session | null }>;
  /**
   * Starts run `run`: created → running (with its status event), or running again after a crash.
   * Null when the session is at another run or no longer runnable.
   */
  beginRun(id: number, run: number): Promise<Session | null>;
}

export type StoredMention = {
  id: number;
  forge: ForgeName;
  deliveryKey: string;
  mention: MentionEvent;
  status: string;
  receivedAt: Date;
};

/** A delivery as the webhook records it. */
export type NewDelivery = { forge: ForgeName; deliveryKey: string; eventName: string; mention: MentionEvent };

/** The webhook_deliveries table: the first thing a webhook writes. */
export interface DeliveryStore {
  /**
   * Records each delivery once, in one statement; a repeat (even within the batch) returns the
   * first row with `created: false`. Results are in the order given.
   */
  recordDeliveries(input: readonly NewDelivery[]): Promise<{ id: number; created: boolean; status: string }[]>;
  getMention(id: number): Promise<StoredMention>;
  markProcessed(id: number, status: string, sessionId?: number): Promise<void>;
  /** True the first time (forge, thread, actor) is seen: the permission note goes out once. */
  claimPermissionNotice(forge: ForgeName, threadKey: string, actorId: string): Promise<boolean>;
}

/** A job the lifecycle queues: one per delivery, and one run and one delivery per session run. */
export type JobRef =
  | { kind: "mention"; deliveryId: number }
  | { kind: "run"; sessionId: number; run: number }
  | { kind: "deliver"; sessionId: number; run: number };

/** Producers for the two queues. Job ids are deterministic, so enqueueing twice is harmless. */
export interface JobQueue {
  enqueueMention(deliveryId: number): Promise<void>;
  /** Many mention jobs in one round trip. */
  enqueueMentions(deliveryIds: readonly number[]): Promise<void>;
  enqueueRun(sessionId: number, run: number): Promise<void>;
  enqueueDeliver(sessionId: number, run: number): Promise<void>;
  /** True while the queue holds the job (waiting, active, delayed, or kept after it ran). */
  isQueued(job: JobRef): Promise<boolean>;
}

/** The configured forges (forges/registry.ts). */
export interface ForgeProvider {
  /**
   * Throws for a forge that is not configured; a forge that may be added while the bot runs (the
   * setup page) comes back as one whose `clientFor` throws ForgeNotConfiguredError until it is.
   */
  forgeFor(name: ForgeName): Forge;
  /** The handle users mention on that forge (ask after `clientFor`: a forge added meanwhile has its own). */
  handleFor(name: ForgeName): string;
  /**
   * The request a comment `body` makes of the bot on that forge: what a human wrote outside code,
   * quotes and HTML, with the mention removed; null when the bot is not mentioned there.
   */
  requestIn(name: ForgeName, body: string): string | null;
  /** The forge's words; known for every forge, configured or not. */
  profileFor(name: ForgeName): ForgeProfile;
}

/** Lifecycle counters, implemented over prom-client in metrics/. */
export interface LifecycleMetrics {
  startedNoteDeleted(forge: ForgeName, outcome: "deleted" | "already_gone" | "failed" | "skipped"): void;
  replyDelivered(forge: ForgeName, outcome: "posted" | "found_existing" | "failed"): void;
  sessionTransition(status: SessionStatus): void;
  startedNoteLatency(forge: ForgeName, seconds: number): void;
  /** A run ended at `status` (terminal, or waiting for a person); `flow` is what ran. */
  sessionFinished(forge: ForgeName, status: SessionStatus, seconds: number, flow: string): void;
  /** An error handled by the lifecycle, attributed to the phase that failed. */
  trackedError(phase: TrackedErrorPhase): void;
  reaperAction(action: ReaperAction): void;
  /** A retry asked for, by where it came from and what became of it. */
  retryRequested(origin: RetryOrigin, outcome: RetryMetricOutcome): void;
}

/** `forgebot_retries_total{origin, outcome}`: the page's button or `@forgebot retry`. */
export type RetryOrigin = "button" | "command";
/** `duplicate`: a double-fire that reached the retry already made; `refused`: nothing to retry yet. */
export type RetryMetricOutcome = "started" | "duplicate" | "refused" | "not_allowed";

/** Bounded phases for `forgebot_tracked_errors_total{phase}`. */
export type TrackedErrorPhase = "mention" | "run" | "deliver" | "started_note_delete" | "reaper";
/** `delivery_retried`: an ended session still showing its started note, or never answered, delivered again. */
export type ReaperAction = "session_timed_out" | "delivery_retried";

export type Links = { sessionUrl(sessionId: number): string };

export type FlowRegistry = {
  /** Throws FlowError for a flow that is not registered. */
  flowFor(name: string): Flow;
  has(name: string): boolean;
};

/** Who a feature-flag check is about: the user acting, in the repository they act in. */
export type FlagSubject = { forge: ForgeName; login: string; repoPath: string };

/** Who may retry: the `manual_retry` flag, for the user or the repository. */
export type RetryPolicy = { retryAllowed(subject: FlagSubject): Promise<boolean> };

/** Who may start change sessions: the `code_changes` flag, for the user or the repository. */
export type ChangePolicy = { changesAllowed(subject: FlagSubject): Promise<boolean> };

/** A change request forgebot opened, as intake needs to recognise a mention in it. */
export type PublishedOrigin = { sessionId: number; branch: string };

/** Where published changes are recorded (storage/publish-store.ts). */
export type Publications = {
  /** The session that opened the thread's change request, or null when forgebot did not open it. */
  findPublished(thread: ThreadRef): Promise<PublishedOrigin | null>;
};

export type LifecycleDeps = {
  sessions: SessionStore;
  deliveries: DeliveryStore;
  queue: JobQueue;
  forges: ForgeProvider;
  flows: FlowRegistry;
  links: Links;
  metrics: LifecycleMetrics;
  retryPolicy: RetryPolicy;
  /** Without it no one may start change sessions. */
  changePolicy?: ChangePolicy;
  /** Without it a mention in a change request forgebot opened is an ordinary mention. */
  publications?: Publications;
  log: Logger;
  /** How often a running flow checks whether its session was stopped. */
  stopPollMs?: number;
};

/** A session the reaper failed for a stale heartbeat. */
export type TimedOutSession = {
  id: number;
  flow: string;
  runSeq: number;
  forge: ForgeName;
  repoPath: string;
  previousStatus: SessionStatus;
  lastHeartbeat: Date;
  createdAt: Date;
};

/** A session that owes a delivery (its reply, or its started note's deletion) no job is making. */
export type UnfinishedDelivery = { id: number; runSeq: number; forge: ForgeName; repoPath: string; notePending: boolean; replyMissing: boolean };

/**
 * The SQL the reaper needs (storage/reaper-store.ts). Every claim is row-level and exclusive:
 * however many reapers run at once, a row is returned to exactly one of them.
 */
export interface ReaperStore {
  /**
   * Fails `created`/`running` sessions whose heartbeat (`updated_at`) is older than
   * `staleAfterMs`, with error_reason `timeout` and the same events a failed run records.
   */
  failStaleSessions(staleAfterMs: number, limit: number): Promise<TimedOutSession[]>;
  /**
   * Claims sessions that owe a delivery (sessions/obligations.ts), quiet for more than `graceMs`
   * (and for less than a day), with fewer than `maxAttempts` earlier claims. A claim
   * records a `reaper_delivery_retry` event and refreshes `updated_at`, so the next attempt
   * waits another `graceMs`.
   */
  claimUnfinishedDeliveries(graceMs: number, maxAttempts: number, limit: number): Promise<UnfinishedDelivery[]>;
}

/**
 * The reconciler's reads (storage/reconciler-store.ts): rows older than `graceMs` whose job the
 * queue may have lost.
 */
export interface ReconcilerStore {
  /** Runs `pass` holding the cluster-wide reconciler lock; null, without running it, when another process holds it. */
  withPassLock<T>(pass: () => Promise<T>): Promise<T | null>;
  /** Deliveries still `received`: their mention job has not finished. */
  findReceivedDeliveries(graceMs: number, limit: number): Promise<number[]>;
  /** Created (with a started note) and running sessions: their run job. */
  findActiveRuns(graceMs: number, limit: number): Promise<{ sessionId: number; run: number }[]>;
  /** Sessions that owe a delivery (sessions/obligations.ts) and changed within a day. */
  findOwedDeliveries(graceMs: number, limit: number): Promise<{ sessionId: number; run: number }[]>;
}
