import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenOnLoopback } from "./loopback.js";

/**
 * Scripted model servers on 127.0.0.1 that speak a provider's HTTP shape, so the agent runs
 * through the real AI SDK providers and real HTTP. A test gives a `script` deciding each
 * reply; the server records every request (body, the step it is for) for assertions.
 */

export type FakeUsage = { input: number; output: number; cached?: number };
export type FakeToolCall = { name: string; input: Record<string, unknown> };

export type FakeReply =
  | { kind: "text"; text: string; usage?: FakeUsage }
  | { kind: "tools"; calls: FakeToolCall[]; text?: string; usage?: FakeUsage }
  | { kind: "error"; status: number; message?: string }
  /** Never answers: the client must time out or abort. */
  | { kind: "hang" };

export type ModelRequest = {
  /** 1-based arrival order on this server. */
  index: number;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
  /** The raw request body: search it for text that must (not) reach the model. */
  raw: string;
  /** Tool results in the request: the step a request is for is `toolResults + 1` in a one-call-per-step loop. */
  toolResults: number;
  model: string;
};

export type Script = (request: ModelRequest) => FakeReply | Promise<FakeReply>;

export const DEFAULT_USAGE: FakeUsage = { input: 100, output: 20, cached: 0 };

export abstract class FakeModelServer {
  readonly requests: ModelRequest[] = [];
  /** Requests whose connection is still open (a hung call the client has not aborted yet). */
  inFlight = 0;
  script: Script;
  /** Called when a request arrives, before the script answers (e.g. to kill a worker). */
  onRequest: ((request: ModelRequest) => void) | undefined;
  port = 0;
  #server: Server | null = null;
  #callIds = 0;

  constructor(script: Script = () => ({ kind: "text", text: "ok" })) {
    this.script = script;
  }

  /** The base URL a provider is configured with. */
  abstract get baseUrl(): string;
  protected abstract countToolResults(body: Record<string, unknown>): number;
  protected abstract formatReply(reply: Extract<FakeReply, { kind: "text" | "tools" }>, request: ModelRequest): unknown;
  protected abstract formatError(status: number, message: string): unknown;
  protected abstract accepts(method: string, path: string): boolean;

  protected nextCallId(prefix: string): string {
    return `${prefix}${++this.#callIds}`;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: String(err) } }));
      });
    });
    this.port = await listenOnLoopback(this.#server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.#server);
  }

  /** Requests for a given step (1-based), by the number of tool results they carry. */
  forStep(step: number): ModelRequest[] {
    return this.requests.filter((r) => r.toolResults === step - 1);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (!this.accepts(req.method ?? "GET", path)) {
      send(res, 404, this.formatError(404, `no route for ${req.method} ${path}`));
      return;
    }
    const body = JSON.parse(raw) as Record<string, unknown>;
    const request: ModelRequest = {
      index: this.requests.length + 1,
      path,
      headers: req.headers,
      body,
      raw,
      toolResults: this.countToolResults(body),
      model: String(body.model ?? ""),
    };
    this.requests.push(request);
    this.inFlight++;
    let open = true;
    const done = () => {
      if (open) this.inFlight--;
      open = false;
    };
    res.on("close", done);
    this.onRequest?.(request);
    const reply = await this.script(request);
    if (reply.kind === "hang") return;
    if (reply.kind === "error") send(res, reply.status, this.formatError(reply.status, reply.message ?? `fake error ${reply.status}`));
    else send(res, 200, this.formatReply(reply, request));
    done();
  }
}

/** An OpenAI-compatible endpoint (`POST /v1/chat/completions`), as LiteLLM, vLLM and Ollama serve it. */
export class FakeOpenAI extends FakeModelServer {
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  protected accepts(method: string, path: string): boolean {
    return method === "POST" && path === "/v1/chat/completions";
  }

  protected countToolResults(body: Record<string, unknown>): number {
    const messages = (body.messages ?? []) as { role?: string }[];
    return messages.filter((m) => m.role === "tool").length;
  }

  protected formatReply(reply: Extract<FakeReply, { kind: "text" | "tools" }>, request: ModelRequest): unknown {
    const usage = reply.usage ?? DEFAULT_USAGE;
    const message =
      reply.kind === "text"
        ? { role: "assistant", content: reply.text }
        : {
            role: "assistant",
            content: reply.text ?? null,
            tool_calls: reply.calls.map((c) => ({
              id: this.nextCallId("call_"),
              type: "function",
              function: { name: c.name, arguments: JSON.stringify(c.input) },
            })),
          };
    return {
      id: `chatcmpl-${request.index}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      choices: [{ index: 0, message, finish_reason: reply.kind === "text" ? "stop" : "tool_calls" }],
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
        prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
      },
    };
  }

  protected formatError(status: number, message: string): unknown {
    return { error: { message, type: status === 429 ? "rate_limit_exceeded" : "api_error", code: status } };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
