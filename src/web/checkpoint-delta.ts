import { truncate } from "../sessions/text.js";
import { renderMarkdown } from "./markdown.js";

/**
 * A checkpoint's delta, made readable without knowing the agent's exact shape: messages in the
 * AI SDK form (`{ role, content }` with text, reasoning, tool-call and tool-result parts), or
 * top-level `text` / `toolCalls` / `toolResults`. A tool call and its result are paired by id so
 * the page can fold them together; anything unrecognised is shown as JSON.
 */

export type StepPart =
  /** Assistant text, as sanitized HTML. */
  | { type: "text"; html: string }
  /** Any other message (user, system, reasoning), shown folded as plain text. */
  | { type: "message"; label: string; text: string }
  | { type: "tool"; id: string | null; name: string; input: string; output: string | null; isError: boolean }
  | { type: "data"; label: string; json: string };

/** Longest text or JSON shown for one part; a step's page size stays bounded. */
const MAX_CHARS = 20_000;

type Dict = Record<string, unknown>;

function isDict(value: unknown): value is Dict {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

export function toJson(value: unknown): string {
  if (typeof value === "string") return truncate(value, MAX_CHARS);
  return truncate(JSON.stringify(value, null, 2) ?? String(value), MAX_CHARS);
}

/** AI SDK tool outputs are `{ type: "text" | "json" | "error-text" | "error-json" | "content", value }`. */
function toolOutput(value: unknown): { text: string; isError: boolean } {
  if (isDict(value) && typeof value.type === "string" && "value" in value) {
    return { text: toJson(value.value), isError: value.type.startsWith("error") };
  }
  return { text: toJson(value), isError: false };
}

class StepParts {
  readonly parts: StepPart[] = [];
  readonly #calls = new Map<string, Extract<StepPart, { type: "tool" }>>();

  text(role: string, text: string): void {
    if (text.trim() === "") return;
    if (role === "assistant") this.parts.push({ type: "text", html: renderMarkdown(truncate(text, MAX_CHARS)) });
    else this.parts.push({ type: "message", label: role === "reasoning" ? "Reasoning" : `${role} message`, text: truncate(text, MAX_CHARS) });
  }

  call(id: string | null, name: string, input: unknown): void {
    const part: Extract<StepPart, { type: "tool" }> = { type: "tool", id, name, input: toJson(input ?? {}), output: null, isError: false };
    this.parts.push(part);
    if (id) this.#calls.set(id, part);
  }

  result(id: string | null, name: string, output: unknown, errored = false): void {
    const { text, isError } = toolOutput(output);
    const call = id ? this.#calls.get(id) : undefined;
    if (call) {
      call.output = text;
      call.isError = isError || errored;
      return;
    }
    this.parts.push({ type: "tool", id, name, input: "", output: text, isError: isError || errored });
  }

  data(label: string, value: unknown): void {
    this.parts.push({ type: "data", label, json: toJson(value) });
  }

  contentPart(role: string, part: unknown): void {
    if (typeof part === "string") return this.text(role, part);
    if (!isDict(part)) return this.data(`${role} content`, part);
    const id = str(part.toolCallId) ?? str(part.id);
    const name = str(part.toolName) ?? str(part.name) ?? "tool";
    switch (part.type) {
      case "text":
        return this.text(role, str(part.text) ?? "");
      case "reasoning":
        return this.text("reasoning", str(part.text) ?? "");
      case "tool-call":
        return this.call(id, name, part.input ?? part.args ?? part.arguments);
      case "tool-result":
        return this.result(id, name, part.output ?? part.result, part.isError === true);
      case "tool-error":
        return this.result(id, name, part.error, true);
      default:
        return this.data(`${role} ${String(part.type ?? "content")}`, part);
    }
  }

  message(message: unknown): void {
    if (!isDict(message) || typeof message.role !== "string") return this.data("message", message);
    const { role, content } = message;
    if (typeof content === "string") return this.text(role, content);
    if (Array.isArray(content)) {
      for (const part of content) this.contentPart(role, part);
      return;
    }
    this.data(`${role} message`, message);
  }
}

const KIND_TITLES: Record<string, string> = { start: "Request", step: "Model step", input: "User input", interrupted: "Interrupted", continue: "Next request", recovered: "Recovered" };

/** The files a step's workspace effect touched, from its patch's headers (the patch itself is on the change section). */
function effectFiles(effects: unknown): string[] | null {
  const patch = isDict(effects) && isDict(effects.tree) ? str(effects.tree.patch) : null;
  if (patch === null) return null;
  return [...patch.matchAll(/^diff --git a\/(.+?) b\/(.+)$/gm)].map((m) => (m[1] === m[2] ? m[2]! : `${m[1]} → ${m[2]}`));
}

/** A title and a short detail from the delta's own bookkeeping (`kind`, `run`, `finishReason`, `reason`). */
export function stepHeading(delta: unknown): { title: string | null; detail: string | null } {
  if (!isDict(delta)) return { title: null, detail: null };
  const kind = str(delta.kind);
  const title = kind ? (KIND_TITLES[kind] ?? kind.replace(/_/g, " ")) : null;
  const detail = [
    typeof delta.run === "number" && delta.run > 1 ? `run ${delta.run}` : null,
    str(delta.finishReason) && `finish: ${str(delta.finishReason)}`,
    str(delta.reason),
    str(delta.key),
    delta.window === true ? "new context window" : null,
  ].filter(Boolean);
  return { title, detail: detail.length ? detail.join(" · ") : null };
}

const HEADING_KEYS = new Set(["kind", "run", "finishReason", "reason", "key", "window"]);

/** The parts of one checkpoint's delta, in order. */
export function stepParts(delta: unknown): StepPart[] {
  const parts = new StepParts();
  if (Array.isArray(delta)) {
    for (const message of delta) parts.message(message);
    return parts.parts;
  }
  if (!isDict(delta)) {
    if (delta !== null && delta !== undefined) parts.data("step", delta);
    return parts.parts;
  }
  const rest: Dict = {};
  for (const [key, value] of Object.entries(delta)) {
    if (HEADING_KEYS.has(key) && (typeof value === "string" || typeof value === "number" || typeof value === "boolean")) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    const files = key === "effects" ? effectFiles(value) : null;
    if (files !== null) parts.data("Workspace files changed in this step", files.join("\n") || "(none)");
    else if (key === "messages" && Array.isArray(value)) for (const message of value) parts.message(message);
    else if (key === "text" && typeof value === "string") parts.text("assistant", value);
    else if (key === "reasoning" && typeof value === "string") parts.text("reasoning", value);
    else if (key === "toolCalls" && Array.isArray(value)) for (const call of value) parts.contentPart("assistant", { ...(isDict(call) ? call : { input: call }), type: "tool-call" });
    else if (key === "toolResults" && Array.isArray(value)) for (const result of value) parts.contentPart("tool", { ...(isDict(result) ? result : { output: result }), type: "tool-result" });
    else rest[key] = value;
  }
  if (Object.keys(rest).length > 0) parts.data("step data", rest);
  return parts.parts;
}
