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

/** A fault a FaultyGitHub serves instead of the fake's answer: a status with headers, or a hang. */
export type Fault = { status: number; headers?: Record<string, string>; body?: unknown } | { hang: true };
export type FaultRule = (req: { method: string; path: string; at: number }) => Fault | undefined;

/**
 * A loopback front for FakeGitHub that can answer with any status and headers (Retry-After,
 * x-ratelimit-*) or never answer, and records when each request arrived.
 */
export class FaultyGitHub {
  rules: FaultRule[] = [];
  readonly seen: { method: string; path: string; at: number; fault: string | null }[] = [];
  #server: import("node:http").Server | null = null;
  port = 0;
  constructor(readonly fake: import("../helpers/fake-github.js").FakeGitHub) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const { createServer } = await import("node:http");
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const method = req.method ?? "GET";
        const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname.replace(/^\/api\/v3/, "");
        const at = Date.now();
        const fault = this.rules.map((rule) => rule({ method, path, at })).find(Boolean);
        this.seen.push({ method, path, at, fault: fault ? ("hang" in fault ? "hang" : String(fault.status)) : null });
        if (fault && "hang" in fault) return; // never answered: the client must time out
        if (fault) {
          res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
          res.end(JSON.stringify(fault.body ?? { message: "injected fault" }));
          return;
        }
        this.fake.respond(method, req.url ?? "/", Buffer.concat(chunks).toString("utf8")).then(([status, body]) => {
          if (body === undefined) {
            res.writeHead(status);
            res.end();
          } else {
            res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
            res.end(JSON.stringify(body));
          }
        }, (err: unknown) => {
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

/**
 * Saves a fault test's measured figures to `test-artifacts/faults/<name>.json` (durations,
 * counts, statuses seen), for the figures of the closing note and BENCHMARKS.md.
 */
export function writeFigures(name: string, figures: unknown): void {
  const dir = path.resolve("test-artifacts", "faults");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
