import { createConnection, createServer, type Server, type Socket } from "node:net";
import { listenOnLoopback } from "./loopback.js";

/**
 * A TCP proxy on 127.0.0.1 in front of a real service (Postgres, Redis), so a test can take
 * the service away from one bot without stopping it for every other test on the machine.
 * `cut()` drops every open connection and resets new ones at once; `restore()` forwards again.
 */
export class TcpProxy {
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  #cut = false;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#targetHost = target.host;
    this.#targetPort = target.port;
  }

  /** A proxy for the host and port of a `postgres://` or `redis://` URL. */
  static for(url: string): TcpProxy {
    const parsed = new URL(url);
    const fallback = parsed.protocol.startsWith("redis") ? 6379 : 5432;
    return new TcpProxy({ host: parsed.hostname, port: Number(parsed.port || fallback) });
  }

  /** `url` with its host and port pointed at this proxy. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = "127.0.0.1";
    parsed.port = String(this.port);
    return parsed.toString();
  }

  get isCut(): boolean {
    return this.#cut;
  }

  async start(): Promise<this> {
    this.#server = createServer((client) => this.#accept(client));
    this.port = await listenOnLoopback(this.#server);
    return this;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    // Resets are the point of this proxy; they must not surface as unhandled errors.
    socket.on("error", () => socket.destroy());
  }

  #accept(client: Socket): void {
    this.#track(client);
    if (this.#cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: this.#targetHost, port: this.#targetPort });
    this.#track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  /** Drops every open connection (with a reset) and refuses new ones until `restore()`. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.resetAndDestroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
