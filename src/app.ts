import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import path from "node:path";
import type { Queue } from "bullmq";
import type { ProbotOctokit } from "probot";
import { createFlowRegistry } from "./agent/flows/registry.js";
import { createChatFlowFromConfig } from "./agent/setup.js";
import type { Config } from "./config/index.js";
import { userActor } from "./flags/actors.js";
import { createFeatureFlags, type FeatureFlags } from "./flags/flags.js";
import type { ForgeName } from "./forges/forge.js";
import { createForgeAdapters, type GitHubApp, type GitLabApp } from "./forges/adapters.js";
import { sendJson } from "./forges/http.js";
import { createForgeRegistry } from "./forges/registry.js";
import { createWriteBudget, withWriteBudget } from "./forges/write-budget.js";
import type { Logger } from "./logging/logger.js";
import { bindScrapeSources, lifecycleMetrics } from "./metrics/index.js";
import { addOpsRoutes } from "./metrics/ops-routes.js";
import { createQueueFactory, migrateQueueSchema, type QueueFactory } from "./queue/backend.js";
import { LIFECYCLE_QUEUE, SESSIONS_QUEUE } from "./queue/names.js";
import { createJobQueue } from "./queue/producer.js";
import { startWorkers, type RunningWorkers } from "./queue/workers.js";
import { acceptEvent } from "./sessions/accept.js";
import type { Flow } from "./sessions/flow.js";
import { sessionUrl } from "./sessions/links.js";
import type { LifecycleDeps } from "./sessions/ports.js";
import { createDeliveryStore } from "./storage/delivery-store.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./storage/embedded.js";
import { migrate } from "./storage/migrate.js";
import { createPool, type Db } from "./storage/pool.js";
import { createCheckpointStore } from "./storage/checkpoint-store.js";
import { createSessionStore } from "./storage/session-store.js";
import { createReaperStore } from "./storage/reaper-store.js";
import { startReaper, type RunningReaper } from "./sessions/reaper.js";
import { startReconciler, type RunningReconciler } from "./queue/reconciler.js";
import { Router } from "./web/router.js";
import type { SessionWeb } from "./web/session-routes.js";
import { createHttpServer, listen } from "./web/server.js";

export type Roles = { web: boolean; workers: boolean };

export type ForgebotOptions = {
  roles: Roles;
  log: Logger;
  /** Tests: an Octokit with retry and throttling off. */
  githubOctokit?: typeof ProbotOctokit;
  /** Flows besides the built-in `help` (the agent's `chat`). */
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
  github: GitHubApp | null;
  gitlab: GitLabApp | null;
  /** Feature flags (`config/feature_flags/*.yml`, gates in Postgres), e.g. `provider_stickiness`. */
  flags: FeatureFlags;
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
 * The composition root: opens Postgres (embedded when DATABASE_URL is unset), migrates, builds
 * BullMQ on Redis or on Postgres, wires forges, flows and the lifecycle, then starts the roles
 * asked for (HTTP, workers or both).
 */
export async function startForgebot(config: Config, options: ForgebotOptions): Promise<Forgebot> {
  const { log } = options;
  const database = await openDatabase(config, log);
  const db = createPool(database.url);
  // Session note locks hold a connection while a write waits for its slot: their own pool.
  const lockDb = createPool(database.url, config.queue.lifecycleConcurrency + 2);
  await migrate(db);
  const flags = await createFeatureFlags({
    db,
    databaseUrl: database.url,
    log,
    ...(config.flags.definitionsDir ? { definitionsDir: config.flags.definitionsDir } : {}),
    ...(config.flags.groupsFile ? { groupsFile: config.flags.groupsFile } : {}),
    strict: config.flags.strict,
  });

  const queueConfig = config.redisUrl ? { kind: "redis" as const, url: config.redisUrl } : { kind: "postgres" as const, url: database.url };
  if (queueConfig.kind === "postgres") await migrateQueueSchema(database.url);
  const factory = createQueueFactory(queueConfig, config.queue.prefix);
  const queues = { lifecycle: factory.createQueue(LIFECYCLE_QUEUE), sessions: factory.createQueue(SESSIONS_QUEUE) };
  // Without a listener BullMQ prints connection errors to stderr; /readyz reports the outage.
  for (const q of Object.values(queues)) q.on("error", (err: Error) => log.warn({ err, queue: q.name }, "queue backend connection error"));
  await Promise.all([queues.lifecycle.waitUntilReady(), queues.sessions.waitUntilReady()]);
  const queue = createJobQueue(queues.lifecycle, queues.sessions);
  const deliveries = createDeliveryStore(db);
  const linkSecret = config.sessionLinkSecret ?? readOrCreateSecret(config.dataDir, log);

  // Mentions are accepted through a late-bound handle lookup: adapters resolve handles at start.
  let handleFor: (forge: ForgeName) => string = () => config.botHandle ?? "forgebot";
  const acceptDeps = { deliveries, queue, handleFor: (forge: ForgeName) => handleFor(forge) };
  const { github, gitlab, ...adapters } = await createForgeAdapters(config, {
    log,
    accept: (result) => acceptEvent(acceptDeps, result),
    ...(options.githubOctokit ? { githubOctokit: options.githubOctokit } : {}),
  });
  handleFor = adapters.handleFor;

  // Every note post and delete goes through one budget per installation/project, shared
  // across processes through Redis when it is configured.
  const writes = createWriteBudget({ limits: config.writeLimits, redisUrl: config.redisUrl, prefix: config.queue.prefix, log });
  const forges = createForgeRegistry([
    ...(github ? [{ forge: withWriteBudget(github.forge, writes), handle: () => handleFor("github") }] : []),
    ...(gitlab ? [{ forge: withWriteBudget(gitlab.forge, writes), handle: () => handleFor("gitlab") }] : []),
  ]);
  const sessions = createSessionStore(db, { onTransition: (status) => lifecycleMetrics.sessionTransition(status), lockPool: lockDb });
  const chatFlow = await createChatFlowFromConfig({
    config,
    checkpoints: createCheckpointStore(db),
    sessions,
    stickiness: (session) => flags.isEnabled("provider_stickiness", userActor(session.forge, session.actor.login)),
    log,
  });
  const deps: LifecycleDeps = {
    sessions,
    deliveries,
    queue,
    forges,
    flows: createFlowRegistry(options.flows ?? [chatFlow]),
    links: { sessionUrl: (id) => sessionUrl(config.publicUrl, linkSecret, id) },
    metrics: lifecycleMetrics,
    retryPolicy: { retryAllowed: (actor) => flags.isEnabled("manual_retry", userActor(actor.forge, actor.login)) },
    log,
    ...(options.stopPollMs ? { stopPollMs: options.stopPollMs } : {}),
  };

  let workers: RunningWorkers | null = null;
  if (options.roles.workers) {
    workers = startWorkers(factory, deps, {
      lifecycleConcurrency: config.queue.lifecycleConcurrency,
      sessionConcurrency: config.queue.sessionConcurrency,
      lockMs: config.queue.lockMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
    });
  }
  // Every worker process reaps; row-level claims keep two reapers off the same session.
  const reaperStore = createReaperStore(db);
  const reaper: RunningReaper | null = options.roles.workers
    ? startReaper(deps, reaperStore, { intervalMs: config.reaperIntervalMs, heartbeatTimeoutMs: config.heartbeatTimeoutMs })
    : null;
  // Re-enqueues what Postgres says is owed but the queue lost (a Redis restart); one process at a time.
  const reconciler: RunningReconciler | null = options.roles.workers
    ? startReconciler({ db, queues, queue, log }, config.reconcile)
    : null;
  const unbindScrape = bindScrapeSources({ activeSessions: () => reaperStore.activeSessionStats(), queues });
  /** What `/readyz` checks (each bounded by 2 s): Postgres and the queue backend answer. */
  const probes = { postgres: () => db.query("SELECT 1"), queue: () => queues.lifecycle.getJobCounts("waiting") };

  let server: Server | null = null;
  let port: number | null = null;
  let sessionWeb: SessionWeb | null = null;
  if (options.roles.web) {
    const notConfigured = (forge: string, vars: string) => (_req: unknown, res: Parameters<typeof sendJson>[0]) =>
      sendJson(res, 503, { error: `${forge} is not configured: set ${vars}` });
    // Imported here: the pages' eta, marked and sanitize-html are not a worker's memory.
    const { createSessionWeb } = await import("./web/session-routes.js");
    sessionWeb = createSessionWeb({ db, lifecycle: deps, linkSecret, publicUrl: config.publicUrl, adminToken: config.adminToken, log });
    const router = sessionWeb.addRoutes(addOpsRoutes(new Router(), probes))
      .add("POST", "/api/github/webhooks", github ? (req, res) => github.handleWebhook(req, res) : notConfigured("GitHub", "APP_ID, PRIVATE_KEY and WEBHOOK_SECRET"))
      .add("POST", "/api/gitlab/webhooks", gitlab ? (req, res) => gitlab.handleWebhook(req, res) : notConfigured("GitLab", "GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET"));
    server = createHttpServer(router, log);
    port = await listen(server, config.port, config.host);
    log.info({ port, publicUrl: config.publicUrl, queue: factory.kind, embeddedPostgres: Boolean(database.embedded) }, "forgebot is listening");
  } else {
    // A worker-only process still answers probes and scrapes: its counters (deliveries,
    // checkpoints, model calls) exist only in this process.
    const opsServer = createHttpServer(addOpsRoutes(new Router(), probes), log);
    try {
      port = await listen(opsServer, config.port, config.host);
      server = opsServer;
      log.info({ port }, "forgebot worker serves /metrics, /healthz and /readyz");
    } catch (err: unknown) {
      log.warn({ err, port: config.port }, "PORT is taken: this worker serves no /metrics (give each worker on a host its own PORT)");
    }
  }

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      // Open SSE streams would otherwise hold the server open until the forced close.
      sessionWeb?.close();
      if (server) {
        const s = server;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
        const force = setTimeout(() => s.closeAllConnections(), 2000);
        await closed;
        clearTimeout(force);
      }
      unbindScrape();
      await reaper?.stop();
      await reconciler?.stop();
      await workers?.close();
      await Promise.all([queues.lifecycle.close(), queues.sessions.close()]);
      await factory.close();
      await writes.close();
      await flags.close();
      await db.end();
      await lockDb.end();
      await database.embedded?.stop();
    })();
    return stopping;
  }

  return { config, db, deps, queues, queueKind: factory.kind, databaseUrl: database.url, port, github, gitlab, flags, stop };
}
