import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import type { Flow } from "../../src/sessions/flow.js";
import { waitFor } from "../helpers/bot.js";
import { signedHeaders } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";
import { freePort } from "../helpers/processes.js";
import { closeServer, listenOnLoopback } from "../helpers/loopback.js";

/**
 * A throwaway `redis-server` (no persistence) on a free loopback port, which a test may kill and
 * start again empty — the machine's Redis is shared with every other test and is never touched.
 */
export class DisposableRedis {
  #child: ChildProcess | null = null;
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port ||= await freePort();
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    this.#child = child;
    await waitFor("redis-server to answer", async () => {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on("error", () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === "PONG";
      } finally {
        probe.disconnect();
      }
    }, 10_000);
    return this;
  }

  /** SIGKILL: every key is lost, as after a crash of a Redis without persistence. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
}

/** A flow that takes `ms` and answers with a tag from the prompt, so replies can be matched. */
export function slowEchoFlow(ms: number): Flow {
  return {
    name: "chat",
    async run(session, context) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        context.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(context.signal.reason);
        }, { once: true });
      });
      return { kind: "finished", markdown: `Echo ${/tag-(\d+)/.exec(session.prompt)?.[0] ?? "?"}` };
    },
  };
}

/** Posts a signed `@forgebot … tag-i` mention in thread i; retries like GitHub's redelivery would. */
export async function sendMention(baseUrl: string, i: number, options: { retryUntil?: number } = {}): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.comment.id = 900_000 + i;
    p.comment.body = `@forgebot echo tag-${i}`;
    p.comment.created_at = new Date().toISOString();
    p.issue.number = 1 + i;
  });
  const body = JSON.stringify(payload);
  const deadline = options.retryUntil ?? 0;
  for (;;) {
    const res = await fetch(`${baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `mention-${i}`, body), body });
    await res.arrayBuffer();
    if (res.status < 500 || Date.now() > deadline) return res.status;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A fault a faulty front serves instead of the fake's answer: a status with headers, a hang (the
 * client must time out), or a dropped connection. With `apply` the fake handles the request
 * first, as a forge that did the write and then lost or garbled its answer.
 */
export type Fault =
  | { status: number; headers?: Record<string, string>; body?: unknown; apply?: boolean }
  | { hang: true; apply?: boolean }
  | { drop: true; apply?: boolean };
export type FaultRule = (req: { method: string; path: string; at: number }) => Fault | undefined;
/** A request a faulty front received: its fault's label (`hang`, `drop`, the status) or null, and whether the fake applied it. */
export type SeenRequest = { method: string; path: string; at: number; fault: string | null; applied: boolean };

/** The label a fault is recorded under in `seen`. */
export function faultLabel(fault: Fault): string {
  return "hang" in fault ? "hang" : "drop" in fault ? "drop" : String(fault.status);
}

/** [status, body, headers?]: what a fake answered. */
type Forwarded = [number, unknown, (Record<string, string> | undefined)?];

/**
 * A loopback front for a fake forge that can answer with any status and headers (Retry-After,
 * x-ratelimit-*), never answer, or drop the connection — before or after the fake applied the
 * request — and records when each request arrived. Everything else is the fake's answer, its
 * headers (Location, Link) and binary bodies (archives) included.
 */
export abstract class FaultyFront {
  rules: FaultRule[] = [];
  readonly seen: SeenRequest[] = [];
  #server: import("node:http").Server | null = null;
  port = 0;

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  /** The path rules match on: the request's path without the API prefix. */
  protected abstract rulePath(pathname: string): string;
  /** The fake's answer to the request. */
  protected abstract forward(method: string, url: string, text: string, headers: Record<string, string | undefined>): Promise<Forwarded>;

  async start(): Promise<this> {
    const { createServer } = await import("node:http");
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const method = req.method ?? "GET";
        const url = req.url ?? "/";
        const text = Buffer.concat(chunks).toString("utf8");
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
        const path = this.rulePath(decodePath(new URL(url, "http://127.0.0.1").pathname));
        const at = Date.now();
        const fault = this.rules.map((rule) => rule({ method, path, at })).find(Boolean);
        const seen: SeenRequest = { method, path, at, fault: fault ? faultLabel(fault) : null, applied: !fault };
        this.seen.push(seen);
        const answer = async () => {
          if (!fault || fault.apply) {
            const forwarded = await this.forward(method, url, text, headers);
            seen.applied = true;
            if (!fault) return sendAnswer(res, forwarded);
          }
          if ("hang" in fault) return; // never answered: the client must time out
          if ("drop" in fault) {
            req.socket.destroy();
            return;
          }
          res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
          res.end(JSON.stringify(fault.body ?? { message: "injected fault" }));
        };
        answer().catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
      });
    });
    this.port = await listenOnLoopback(this.#server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.#server);
  }
}

/** The path with percent-escapes decoded (clients encode a ref's slashes), as rules match it. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function sendAnswer(res: import("node:http").ServerResponse, [status, body, headers]: Forwarded): void {
  if (body === undefined) {
    res.writeHead(status, headers ?? {});
    res.end();
  } else if (Buffer.isBuffer(body)) {
    res.writeHead(status, { "content-length": String(body.length), ...headers });
    res.end(body);
  } else if (typeof body === "string") {
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(body);
  } else {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  }
}

/** A FaultyFront for FakeGitHub (REST under /api/v3, as on GHES: point GHE_HOST at `host`). */
export class FaultyGitHub extends FaultyFront {
  constructor(readonly fake: import("../helpers/fake-github.js").FakeGitHub) {
    super();
  }

  protected rulePath(pathname: string): string {
    return pathname.replace(/^\/api\/v3/, "");
  }

  protected forward(method: string, url: string, text: string, headers: Record<string, string | undefined>): Promise<Forwarded> {
    return this.fake.respond(method, url, text, headers);
  }
}

/** A FaultyFront for FakeGitLab (point GITLAB_URL at `url`); rules see paths without /api/v4. */
export class FaultyGitLab extends FaultyFront {
  constructor(readonly fake: import("../helpers/fake-gitlab.js").FakeGitLab) {
    super();
  }

  protected rulePath(pathname: string): string {
    return pathname.replace(/^\/api\/v4/, "");
  }

  protected forward(method: string, url: string, text: string, headers: Record<string, string | undefined>): Promise<Forwarded> {
    return Promise.resolve(this.fake.respond(method, url, text, headers["private-token"], headers.authorization));
  }
}

/**
 * Saves a fault test's measured figures to `test-artifacts/faults/<name>.json` (durations,
 * counts, statuses seen), for the figures of the closing note and BENCHMARKS.md.
 */
export function writeFigures(name: string, figures: unknown): void {
  const dir = path.resolve("test-artifacts", "faults");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
