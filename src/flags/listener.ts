import pg from "pg";
import type { Logger } from "../sessions/ports.js";
import { GATES_CHANNEL } from "./gate-store.js";

export type GateListener = {
  /** True while LISTEN is active; callers shorten their cache while it is false. */
  readonly connected: boolean;
  close(): Promise<void>;
};

export type GateListenerOptions = {
  databaseUrl: string;
  log: Logger;
  /** A gate of `flagName` changed. */
  onChange(flagName: string): void;
  /** (Re)connected: changes made while disconnected were missed, so everything is stale. */
  onConnect(): void;
  /** Delay before the first reconnect; doubles up to `maxReconnectMs`. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** How often the idle connection is probed, so a silently dead one is replaced. */
  pingMs?: number;
};

/**
 * LISTENs on a dedicated connection (a pooled one would lose the LISTEN when released) and
 * reconnects with backoff when it drops. Resolves once the first attempt has succeeded or failed;
 * a failed first attempt keeps retrying in the background.
 */
export async function listenForGateChanges(options: GateListenerOptions): Promise<GateListener> {
  const { log } = options;
  const reconnectMs = options.reconnectMs ?? 250;
  const maxReconnectMs = options.maxReconnectMs ?? 5000;
  const pingMs = options.pingMs ?? 15_000;
  let client: pg.Client | null = null;
  let closed = false;
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let pingTimer: NodeJS.Timeout | null = null;

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    const delay = Math.min(maxReconnectMs, reconnectMs * 2 ** failures);
    failures += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      void connect();
    }, delay);
    reconnectTimer.unref();
  }

  const dropped = new WeakSet<pg.Client>();

  function drop(c: pg.Client, reason: unknown): void {
    if (dropped.has(c)) return;
    dropped.add(c);
    if (client === c) {
      client = null;
      log.warn({ err: reason }, "feature flag listener disconnected; reconnecting");
    }
    c.removeAllListeners("end");
    c.end().catch(() => undefined);
    scheduleReconnect();
  }

  async function connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: options.databaseUrl,
      application_name: "forgebot-flags",
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: 5000,
      connectionTimeoutMillis: 5000,
    });
    // Registered before connect: an error on an idle client must never crash the process.
    c.on("error", (err: Error) => drop(c, err));
    c.on("end", () => drop(c, new Error("connection ended")));
    c.on("notification", (message) => {
      if (message.channel === GATES_CHANNEL && message.payload) options.onChange(message.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${GATES_CHANNEL}`);
    } catch (err: unknown) {
      if (failures === 0) log.warn({ err }, "feature flag listener cannot connect; retrying");
      drop(c, err);
      return;
    }
    if (closed) {
      c.removeAllListeners("end");
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    failures = 0;
    options.onConnect();
  }

  pingTimer = setInterval(() => {
    const c = client;
    if (c) c.query("SELECT 1").catch((err: unknown) => drop(c, err));
  }, pingMs);
  pingTimer.unref();

  await connect();

  return {
    get connected() {
      return client !== null;
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (pingTimer) clearInterval(pingTimer);
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners("end");
        await c.end().catch(() => undefined);
      }
    },
  };
}
