import type { Roles } from "./app.js";
import { ConfigError, loadConfig } from "./config/index.js";
import { createLogger } from "./logging/logger.js";
import { createPool } from "./storage/pool.js";
import { migrate } from "./storage/migrate.js";

const USAGE = `Usage: forgebot <command>

  start     web and workers in one process (embedded Postgres when DATABASE_URL is unset)
  web       HTTP only: webhooks, session pages, metrics
  worker    queue workers only
  migrate   apply database migrations and exit
  feature   list | get NAME | set NAME VALUE | delete NAME
`;

const ROLES: Record<string, Roles> = {
  start: { web: true, workers: true },
  web: { web: true, workers: false },
  worker: { web: false, workers: true },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`forgebot: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);

  if (command === "migrate") {
    if (!config.databaseUrl) {
      process.stderr.write("forgebot: DATABASE_URL: expects a postgres:// URL (forgebot start migrates the embedded database itself)\n");
      return 2;
    }
    const db = createPool(config.databaseUrl, { max: 1, log });
    try {
      const applied = await migrate(db);
      process.stdout.write(applied.length ? `applied ${applied.join(", ")}\n` : "database is up to date\n");
    } finally {
      await db.end();
    }
    return 0;
  }

  if (command === "feature") {
    const { runFeatureCli } = await import("./flags/cli.js");
    return runFeatureCli(config, rest);
  }

  const roles = ROLES[command];
  if (!roles) {
    process.stderr.write(`forgebot: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  // Loaded only for the long-running commands: `migrate` and `feature` start fast without it.
  const { startForgebot } = await import("./app.js");
  const bot = await startForgebot(config, { roles, log });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await bot.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`forgebot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
