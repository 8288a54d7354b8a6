import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import path from "node:path";
import type { Queue } from "bullmq";
import type { ProbotOctokit } from "probot";
import { createFlowRegistry, noModelChatFlow } from "./agent/flows/registry.js";
import type { Config } from "./config/index.js";
import type { ForgeName } from "./forges/forge.js";
import { createGitHubApp, type GitHubApp } from "./forges/github/app.js";
import { sendJson } from "./forges/http.js";
import { createForgeRegistry } from "./forges/registry.js";
import type { Logger } from "./logging/logger.js";
import { lifecycleMetrics, registry } from "./metrics/index.js";
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
import { createSessionStore } from "./storage/session-store.js";
import { Router } from "./web/router.js";
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

/** Database reachable and the queue backend answering: what `/readyz` and `forgebot start` wait for. */
async function checkReady(db: Db, queue: Queue): Promise<Record<string, "ok" | "down">> {
  const probe = async (fn: () => Promise<unknown>) =>
    Promise.race([fn().then(() => "ok" as const), new Promise<"down">((r) => setTimeout(() => r("down"), 2000).unref())]).catch(() => "down" as const);
  const [postgres, queueBackend] = await Promise.all([probe(() => db.query("SELECT 1")), probe(() => queue.getJobCounts("waiting"))]);
  return { postgres, queue: queueBackend };
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
  await migrate(db);

  const queueConfig = config.redisUrl ? { kind: "redis" as const, url: config.redisUrl } : { kind: "postgres" as const, url: database.url };
  if (queueConfig.kind === "postgres") await migrateQueueSchema(database.url);
  const factory = createQueueFactory(queueConfig, config.queue.prefix);
  const queues = { lifecycle: factory.createQueue(LIFECYCLE_QUEUE), sessions: factory.createQueue(SESSIONS_QUEUE) };
  await Promise.all([queues.lifecycle.waitUntilReady(), queues.sessions.waitUntilReady()]);
  const queue = createJobQueue(queues.lifecycle, queues.sessions);
  const deliveries = createDeliveryStore(db);
  const linkSecret = config.sessionLinkSecret ?? readOrCreateSecret(config.dataDir, log);

  const handles = new Map<ForgeName, string>();
  const handleFor = (forge: ForgeName) => handles.get(forge) ?? config.botHandle ?? "forgebot";
  const acceptDeps = { deliveries, queue, handleFor };

  let github: GitHubApp | null = null;
  if (config.github) {
    github = createGitHubApp({
      config: config.github,
      log,
      maxBodyBytes: config.maxWebhookBytes,
      accept: (result) => acceptEvent(acceptDeps, result),
      ...(options.githubOctokit ? { Octokit: options.githubOctokit } : {}),
    });
    const slug = config.botHandle ? null : await github.fetchSlug();
    handles.set("github", config.botHandle ?? slug ?? "forgebot");
    github.setSelfLogins([handleFor("github"), `${handleFor("github")}[bot]`]);
  }

  const forges = createForgeRegistry([...(github ? [{ forge: github.forge, handle: () => handleFor("github") }] : [])]);
  const deps: LifecycleDeps = {
    sessions: createSessionStore(db, { onTransition: (status) => lifecycleMetrics.sessionTransition(status) }),
    deliveries,
    queue,
    forges,
    flows: createFlowRegistry(options.flows ?? [noModelChatFlow]),
    links: { sessionUrl: (id) => sessionUrl(config.publicUrl, linkSecret, id) },
    metrics: lifecycleMetrics,
    retryPolicy: { retryAllowed: async () => config.switches.manualRetry },
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

  let server: Server | null = null;
  let port: number | null = null;
  if (options.roles.web) {
    const notConfigured = (forge: string, vars: string) => (_req: unknown, res: Parameters<typeof sendJson>[0]) =>
      sendJson(res, 503, { error: `${forge} is not configured: set ${vars}` });
    const router = new Router()
      .add("POST", "/api/github/webhooks", github ? (req, res) => github.handleWebhook(req, res) : notConfigured("GitHub", "APP_ID, PRIVATE_KEY and WEBHOOK_SECRET"))
      .add("POST", "/api/gitlab/webhooks", notConfigured("GitLab", "GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET"))
      .add("GET", "/healthz", (_req, res) => sendJson(res, 200, { status: "ok" }))
      .add("GET", "/readyz", async (_req, res) => {
        const checks = await checkReady(db, queues.lifecycle);
        const ready = Object.values(checks).every((v) => v === "ok");
        sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
      })
      .add("GET", "/metrics", async (_req, res) => {
        const body = await registry.metrics();
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(body);
      });
    server = createHttpServer(router, log);
    port = await listen(server, config.port, config.host);
    log.info({ port, publicUrl: config.publicUrl, queue: factory.kind, embeddedPostgres: Boolean(database.embedded) }, "forgebot is listening");
  }

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      if (server) {
        const s = server;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
        const force = setTimeout(() => s.closeAllConnections(), 2000);
        await closed;
        clearTimeout(force);
      }
      await workers?.close();
      await Promise.all([queues.lifecycle.close(), queues.sessions.close()]);
      await factory.close();
      await db.end();
      await database.embedded?.stop();
    })();
    return stopping;
  }

  return { config, db, deps, queues, queueKind: factory.kind, databaseUrl: database.url, port, github, stop };
}
