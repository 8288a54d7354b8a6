import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Queue } from "bullmq";
import type { ProbotOctokit } from "probot";
import { createHelpFlow } from "./agent/flows/help.js";
import { createFlowRegistry } from "./agent/flows/registry.js";
import { createAgentFlowsFromConfig } from "./agent/setup.js";
import type { Config } from "./config/index.js";
import { createFeatureFlags, type FeatureFlags } from "./flags/flags.js";
import { createForges, createForgeSetup, profileFor } from "./forges/registry.js";
import { createWriteBudget } from "./forges/write-budget.js";
import { createAcceptor } from "./lifecycle/accept.js";
import { startReaper } from "./lifecycle/reaper.js";
import { runPeriodically } from "./lifecycle/periodic.js";
import { startReconciler, type ReconcileResult } from "./lifecycle/reconciler.js";
import type { Logger } from "./logging/logger.js";
import { permissionRefusals } from "./metrics/flows.js";
import { bindScrapeSources, lifecycleMetrics } from "./metrics/index.js";
import { createQueueFactory, migrateQueueSchema, QUEUE_SCHEMA, type QueueFactory } from "./queue/backend.js";
import { resolveQueueNamespace } from "./queue/namespace.js";
import { LIFECYCLE_QUEUE, SESSIONS_QUEUE } from "./queue/names.js";
import { createJobQueue } from "./queue/producer.js";
import { startWorkers, type RunningWorkers } from "./queue/workers.js";
import type { Flow } from "./sessions/flow.js";
import { sessionPatchUrl, sessionUrl } from "./sessions/links.js";
import type { FlagSubject, LifecycleDeps } from "./sessions/ports.js";
import type { Session } from "./sessions/session.js";
import { createCheckpointStore } from "./storage/checkpoint-store.js";
import { createDeliveryStore } from "./storage/delivery-store.js";
import { createForgeCredentialStore } from "./storage/forge-credentials-store.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./storage/embedded.js";
import { migrate } from "./storage/migrate.js";
import { createPool, type Db } from "./storage/pool.js";
import { createReaperStore } from "./storage/reaper-store.js";
import { createReconcilerStore } from "./storage/reconciler-store.js";
import { createPublishStore } from "./storage/publish-store.js";
import { createReviewStore } from "./storage/review-store.js";
import { createSessionStore } from "./storage/session-store.js";
import { createWorkspaceStore } from "./storage/workspace-store.js";
import { sweepWorkspaces } from "./workspace/reaper.js";
import { createSandbox } from "./workspace/sandbox.js";
import { startHttp, type RunningHttp } from "./web/start.js";

export type Roles = { web: boolean; workers: boolean };

export type ForgebotOptions = {
  roles: Roles;
  log: Logger;
  /** Tests: an Octokit with retry and throttling off. */
  githubOctokit?: typeof ProbotOctokit;
  /** Flows besides the built-in `help` (the agent's `chat` and `review`). */
  flows?: Flow[];
  stopPollMs?: number;
};

export type Forgebot = {
  config: Config;
  db: Db;
  deps: LifecycleDeps;
  queues: { lifecycle: Queue; sessions: Queue };
  queueKind: QueueFactory["kind"];
  databaseUrl: string;
  port: number | null;
  /** Feature flags (`config/feature_flags/*.yml`, gates in Postgres), e.g. `provider_stickiness`. */
  flags: FeatureFlags;
  /** One reconciler pass now (worker roles only; null otherwise). */
  reconcileOnce: (() => Promise<ReconcileResult>) | null;
  stop(): Promise<void>;
};

function readOrCreateSecret(dataDir: string, log: Logger): string {
  const file = path.join(dataDir, "session-link-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600 });
  log.warn({ file }, "SESSION_LINK_SECRET is unset; generated one (set it when web and workers run on different machines)");
  return secret;
}

async function openDatabase(config: Config, log: Logger): Promise<{ url: string; embedded: EmbeddedDatabase | null }> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
  log.info({ dataDir: config.dataDir, port: config.embeddedPgPort }, "DATABASE_URL is unset; starting embedded Postgres");
  const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort);
  return { url: embedded.url, embedded };
}

/**
 * How DATABASE_POOL_MAX is shared: with the queue on Postgres, the queue's pool takes a share
 * (each worker holds one of its clients for LISTEN), the rest is the main pool.
 */
function connectionBudget(config: Config): { main: number; queue: number } {
  const total = config.databasePoolMax;
  if (config.redisUrl) return { main: total, queue: 0 };
  const queue = Math.max(3, Math.floor(total * 0.4));
  return { main: total - queue, queue };
}

/** The actor ids a flag check passes: the user and the repository (forges' profiles name them). */
function flagActors(subject: FlagSubject) {
  const profile = profileFor(subject.forge);
  return { user: profile.userActor(subject.login), repository: profile.repositoryActor(subject.repoPath) };
}

/** Each queue's jobs by state, for the status page. */
async function queueCounts(queues: { lifecycle: Queue; sessions: Queue }): Promise<Record<string, Record<string, number>>> {
  const states = ["waiting", "prioritized", "active", "delayed", "failed"] as const;
  const [lifecycle, sessions] = await Promise.all([queues.lifecycle.getJobCounts(...states), queues.sessions.getJobCounts(...states)]);
  return { lifecycle, sessions };
}

/**
 * The composition root: opens Postgres (embedded when DATABASE_URL is unset), migrates, builds
 * BullMQ on Redis or on Postgres, wires forges, flows and the lifecycle, then starts the roles
 * asked for (HTTP, workers or both).
 */
export async function startForgebot(config: Config, options: ForgebotOptions): Promise<Forgebot> {
  const { log } = options;
  const database = await openDatabase(config, log);
  // Every connection of this process comes out of DATABASE_POOL_MAX (the flags' LISTEN aside):
  // with the queue on Postgres, its pool is a share of it.
  const budget = connectionBudget(config);
  const db = createPool(database.url, { max: budget.main, log });
  await migrate(db);
  const flags = await createFeatureFlags({
    db,
    databaseUrl: database.url,
    log,
    ...(config.flags.definitionsDir ? { definitionsDir: config.flags.definitionsDir } : {}),
    ...(config.flags.groupsFile ? { groupsFile: config.flags.groupsFile } : {}),
    strict: config.flags.strict,
  });

  const queuePool = config.redisUrl ? null : createPool(database.url, { max: budget.queue, log, options: `-c search_path=${QUEUE_SCHEMA}` });
  if (queuePool) await migrateQueueSchema(queuePool);
  const queueConfig = queuePool ? { kind: "postgres" as const, pool: queuePool } : { kind: "redis" as const, url: config.redisUrl ?? "" };
  const { prefix } = await resolveQueueNamespace(db, { base: config.queue.prefix, redisUrl: config.redisUrl, log });
  const factory = createQueueFactory(queueConfig, prefix, log);
  const queues = { lifecycle: factory.createQueue(LIFECYCLE_QUEUE), sessions: factory.createQueue(SESSIONS_QUEUE) };
  // Without a listener BullMQ prints connection errors to stderr; /readyz reports the outage.
  for (const q of Object.values(queues)) q.on("error", (err: Error) => log.warn({ err, queue: q.name }, "queue backend connection error"));
  await Promise.all([queues.lifecycle.waitUntilReady(), queues.sessions.waitUntilReady()]);
  const queue = createJobQueue(queues.lifecycle, queues.sessions);
  const deliveries = createDeliveryStore(db);
  const linkSecret = config.sessionLinkSecret ?? readOrCreateSecret(config.dataDir, log);

  // Every note post and delete goes through one budget per installation/project, shared
  // across processes through Redis when it is configured.
  const writes = createWriteBudget({ limits: config.writeLimits, redisUrl: config.redisUrl, prefix: config.queue.prefix, log });
  // Who the bot is on each forge is settled here, before any webhook handler exists; forges the
  // setup page stores (sealed with a key derived from the link secret) join while the bot runs.
  const forges = await createForges(config, {
    log,
    writes,
    credentials: createForgeCredentialStore(db, linkSecret),
    ...(options.githubOctokit ? { githubOctokit: options.githubOctokit } : {}),
  });
  const sessions = createSessionStore(db, { onTransition: (status) => lifecycleMetrics.sessionTransition(status), leaseMs: config.queue.lockMs, log });
  // Flags are checked for the user and the repository a session is about.
  const subjectOf = (session: Session): FlagSubject => ({ forge: session.forge, login: session.actor.login, repoPath: session.repoPath });
  const codeChangesOn = (subject: FlagSubject) => flags.isEnabled("code_changes", flagActors(subject));
  // Change sessions: `code_changes` for the user or the repository; a refusal is counted.
  const changePolicy = {
    async changesAllowed(subject: FlagSubject) {
      const allowed = await codeChangesOn(subject);
      if (!allowed) permissionRefusals.inc({ forge: subject.forge, reason: "flag_off" });
      return allowed;
    },
  };
  const workspaceStore = createWorkspaceStore(db);
  const publishStore = createPublishStore(db);
  // Workers check at start that commands can be sandboxed here; a web process runs none.
  const sandbox = await createSandbox(
    {
      mode: config.sandbox.mode,
      commandTimeoutMs: config.sandbox.commandTimeoutMs,
      probeDir: config.workspace.dir,
      // The worker's own files, should they show through a system directory mounted inside.
      hidden: [config.dataDir, config.workspace.dir, process.cwd(), config.env.PRIVATE_KEY_PATH, config.env.MODELS_FILE, config.flags.definitionsDir, config.flags.groupsFile].filter(
        (p): p is string => typeof p === "string" && p !== "",
      ),
    },
    log,
    { selfTest: options.roles.workers },
  );
  // `chat`, and `review` and `change` beside it: intake routes those commands to them once registered.
  const agentFlows = await createAgentFlowsFromConfig(
    {
      config,
      checkpoints: createCheckpointStore(db),
      reviews: createReviewStore(db, { leaseMs: config.queue.lockMs, log }),
      sessions,
      stickiness: (session) =>
        flags.isEnabled("provider_stickiness", flagActors(subjectOf(session))),
      log,
    },
    {
      workspaces: config.workspace,
      sandbox,
      store: workspaceStore,
      change: config.change,
      allowed: (session) => changePolicy.changesAllowed(subjectOf(session)),
      // A chat that never asked for a change is no refusal: offering the switch counts nothing.
      offerSwitch: (session) => codeChangesOn(subjectOf(session)),
      patchUrl: (id) => sessionPatchUrl(config.publicUrl, linkSecret, id),
      // Approved changes become a branch, a commit and a draft pull/merge request (CHANGE_APPROVAL).
      publishing: { store: publishStore, approval: config.change.approval, sessionUrl: (id) => sessionUrl(config.publicUrl, linkSecret, id) },
      async switchSession(session, request) {
        await sessions.addEvent(session.id, "flow_switched", { from: session.flow, to: "change", request: request.slice(0, 2000), run: session.runSeq });
        return sessions.update(session.id, { flow: "change" });
      },
    },
  );
  const deps: LifecycleDeps = {
    sessions,
    deliveries,
    queue,
    forges: forges.provider,
    // `help` lists retry only for those it is on for; read through deps, which tests may swap.
    flows: createFlowRegistry(options.flows ?? agentFlows, { help: createHelpFlow({
        retryAllowed: (subject) => deps.retryPolicy.retryAllowed(subject),
        changesOffered: codeChangesOn,
      }) }),
    links: { sessionUrl: (id) => sessionUrl(config.publicUrl, linkSecret, id) },
    metrics: lifecycleMetrics,
    retryPolicy: { retryAllowed: (subject) => flags.isEnabled("manual_retry", flagActors(subject)) },
    changePolicy,
    // A mention in a change request forgebot opened continues the change that opened it.
    publications: {
      findPublished: (thread) =>
        thread.kind === "change_request" ? publishStore.findPublished({ forge: thread.forge, host: thread.host, repoId: thread.repoId, number: thread.number }) : Promise.resolve(null),
    },
    log,
    ...(options.stopPollMs ? { stopPollMs: options.stopPollMs } : {}),
  };

  let workers: RunningWorkers | null = null;
  const reaperStore = createReaperStore(db);
  const periodic: { stop(): Promise<void> }[] = [];
  let reconcileOnce: Forgebot["reconcileOnce"] = null;
  if (options.roles.workers) {
    workers = startWorkers(factory, deps, {
      lifecycleConcurrency: config.queue.lifecycleConcurrency,
      sessionConcurrency: config.queue.sessionConcurrency,
      lockMs: config.queue.lockMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
    });
    // Every worker process reaps; row-level claims keep two reapers off the same session.
    periodic.push(startReaper(deps, reaperStore, { intervalMs: config.reaperIntervalMs, heartbeatTimeoutMs: config.heartbeatTimeoutMs }));
    // Re-enqueues what Postgres says is owed but the queue lost (a Redis restart); one process at a time.
    const reconciler = startReconciler({ store: createReconcilerStore(db), queue, log }, config.reconcile);
    periodic.push(reconciler);
    reconcileOnce = reconciler.passOnce;
    // Workspaces of sessions that ended without removing theirs (a crash, a stop elsewhere).
    periodic.push(
      runPeriodically(config.reaperIntervalMs, () =>
        sweepWorkspaces(config.workspace.dir, workspaceStore, log).then(
          () => undefined,
          (err: unknown) => log.warn({ err }, "workspace sweep failed"),
        ),
      ),
    );
  }
  const unbindScrape = bindScrapeSources({ activeSessions: () => reaperStore.activeSessionStats(), queues });
  /** What `/readyz` checks (each bounded by 2 s): Postgres and the queue backend answer. */
  const probes = { postgres: () => db.query("SELECT 1"), queue: () => queues.lifecycle.getJobCounts("waiting") };

  // Deliveries that arrive together are group-committed: one INSERT and one bulk add a batch.
  const accept = createAcceptor({ deliveries, queue, forges: forges.provider });
  const http: RunningHttp | null = await startHttp(config, {
    log,
    probes,
    ...(options.roles.web
      ? {
          site: {
            db,
            lifecycle: deps,
            linkSecret,
            webhooks: forges.webhooks(accept, config.maxWebhookBytes),
            profileFor,
            signIns: forges.signIns,
            setup: { directory: forges.directory, registration: createForgeSetup(config), queueCounts: () => queueCounts(queues) },
          },
        }
      : {}),
  });
  log.info({ port: http?.port ?? null, publicUrl: config.publicUrl, queue: factory.kind, embeddedPostgres: Boolean(database.embedded), roles: options.roles }, "forgebot started");

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      await http?.close();
      unbindScrape();
      for (const p of periodic) await p.stop();
      await workers?.close();
      await Promise.all([queues.lifecycle.close(), queues.sessions.close()]);
      await factory.close();
      await writes.close();
      await flags.close();
      await queuePool?.end();
      await db.end();
      await database.embedded?.stop();
    })();
    return stopping;
  }

  return { config, db, deps, queues, queueKind: factory.kind, databaseUrl: database.url, port: http?.port ?? null, flags, reconcileOnce, stop };
}
