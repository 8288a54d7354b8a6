import { DEFAULT_USAGE, FakeModelServer, type FakeReply, type ModelRequest } from "./fake-openai.js";

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  429: "rate_limit_error",
  529: "overloaded_error",
};

/** An Anthropic-shaped Messages API (`POST /v1/messages`) on 127.0.0.1. */
export class FakeAnthropic extends FakeModelServer {
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  protected accepts(method: string, path: string): boolean {
    return method === "POST" && path === "/v1/messages";
  }

  protected countToolResults(body: Record<string, unknown>): number {
    const messages = (body.messages ?? []) as { content?: unknown }[];
    let count = 0;
    for (const m of messages) {
      if (!Array.isArray(m.content)) continue;
      count += (m.content as { type?: string }[]).filter((p) => p.type === "tool_result").length;
    }
    return count;
  }

  protected formatReply(reply: Extract<FakeReply, { kind: "text" | "tools" }>, request: ModelRequest): unknown {
    const usage = reply.usage ?? DEFAULT_USAGE;
    const content: unknown[] = [];
    if (reply.kind === "text") content.push({ type: "text", text: reply.text });
    else {
      if (reply.text) content.push({ type: "text", text: reply.text });
      for (const call of reply.calls) content.push({ type: "tool_use", id: this.nextCallId("toolu_"), name: call.name, input: call.input });
    }
    return {
      id: `msg_${request.index}`,
      type: "message",
      role: "assistant",
      model: request.model,
      content,
      stop_reason: reply.kind === "text" ? "end_turn" : "tool_use",
      stop_sequence: null,
      usage: {
        input_tokens: usage.input - (usage.cached ?? 0),
        output_tokens: usage.output,
        cache_read_input_tokens: usage.cached ?? 0,
        cache_creation_input_tokens: 0,
      },
    };
  }

  protected formatError(status: number, message: string): unknown {
    return { type: "error", error: { type: ERROR_TYPES[status] ?? "api_error", message } };
  }
}
