import { tool, type ToolSet } from "ai";
import { z } from "zod";
import { ForgeApiError, type ForgeClient, type ThreadComment, type ThreadContent, type ThreadRef } from "../sessions/forge-port.js";
import { ASK_USER_TOOL } from "./state.js";
import { hasMarker } from "../sessions/notes.js";
import { truncate } from "../sessions/text.js";
import { fence, revealInvisible, sanitizeProse } from "./untrusted.js";

export type ToolLimits = {
  /** Largest tool result handed to the model, in characters. */
  maxChars: number;
  /** Most directory entries listed. */
  maxEntries: number;
};

export const DEFAULT_TOOL_LIMITS: ToolLimits = { maxChars: 24_000, maxEntries: 300 };

export type ToolContext = {
  forge: ForgeClient;
  thread: ThreadRef;
  /** Comments created or edited at or after this instant never reach the model. */
  triggerCreatedAt: string;
  triggerCommentId: string | null;
  limits?: ToolLimits;
  /** The ref files are read at when the model names none (a review: the head commit it read). */
  defaultRef?: string;
};


/**
 * Only what stood in the thread when the bot was asked: comments created and last edited
 * before the trigger, minus the trigger itself, system notes and forgebot's own notes.
 */
export function visibleComments(comments: readonly ThreadComment[], triggerCreatedAt: string, triggerCommentId: string | null): ThreadComment[] {
  const trigger = Date.parse(triggerCreatedAt);
  return comments.filter((c) => {
    if (c.system || c.id === triggerCommentId || hasMarker(c.body)) return false;
    const created = Date.parse(c.createdAt);
    const updated = Date.parse(c.updatedAt || c.createdAt);
    return Number.isFinite(trigger) && created < trigger && updated < trigger;
  });
}

/** The thread as fenced data, bounded: the newest comments that fit, oldest first. */
export function renderThread(content: ThreadContent, comments: readonly ThreadComment[], maxChars: number): string {
  const head = fence(truncate(sanitizeProse(content.body), Math.floor(maxChars / 3)), {
    kind: "description",
    title: sanitizeProse(content.title),
    author: content.author,
  });
  const rendered: string[] = [];
  let used = head.length;
  let omitted = 0;
  for (let i = comments.length - 1; i >= 0; i--) {
    const c = comments[i]!;
    const block = fence(truncate(sanitizeProse(c.body), Math.floor(maxChars / 4)), { kind: "comment", author: c.author, created: c.createdAt });
    if (used + block.length > maxChars) {
      omitted = i + 1;
      break;
    }
    rendered.unshift(block);
    used += block.length;
  }
  const notice = omitted ? [`[${omitted} earlier comment(s) not shown: the thread is longer than this tool's limit]`] : [];
  return [head, ...notice, ...rendered, comments.length === 0 ? "(no comments before the request)" : ""].filter(Boolean).join("\n\n");
}

function cleanPath(input: string | undefined): string {
  const p = (input ?? "").trim().replace(/^\.?\/+/, "").replace(/\/+$/, "");
  if (p.split("/").some((segment) => segment === "..")) throw new ForgeApiError("paths may not contain ..", 400);
  return p;
}

function failure(err: unknown, what: string): string {
  if (err instanceof ForgeApiError && err.status === 404) return `Not found: ${what}`;
  const message = err instanceof Error ? err.message : String(err);
  return `Error: ${what} could not be read (${message.slice(0, 200)})`;
}

/**
 * The agent's read-only tools over `ForgeClient` (both forges), plus `ask_user`, which has no
 * `execute`: the step ends there and the session waits for the answer. Results are bounded and
 * fenced as untrusted data; a failed read returns an error text the model can act on.
 */
export function createAgentTools(ctx: ToolContext): ToolSet {
  const limits = ctx.limits ?? DEFAULT_TOOL_LIMITS;
  const { forge, thread } = ctx;
  let headRef: Promise<string | undefined> | null = null;
  const defaultRef = (ref: string | undefined): Promise<string | undefined> => {
    if (ref) return Promise.resolve(ref);
    if (ctx.defaultRef) return Promise.resolve(ctx.defaultRef);
    if (thread.kind !== "change_request" || !forge.getThread) return Promise.resolve(undefined);
    headRef ??= forge.getThread(thread).then((t) => t.headRef, () => undefined);
    return headRef;
  };

  const tools: ToolSet = {
    [ASK_USER_TOOL]: tool({
      description: "Ask the person who mentioned you one short question when the request cannot be answered without it. The session pauses until they answer.",
      inputSchema: z.object({ question: z.string().min(1).describe("The question, in Markdown") }),
    }),
  };

  const getThread = forge.getThread?.bind(forge);
  if (getThread) {
    tools.get_thread = tool({
      description: "Read this thread: title, description and the comments written before you were mentioned.",
      inputSchema: z.object({}),
      execute: async () => {
        try {
          const content = await getThread(thread);
          return renderThread(content, visibleComments(content.comments, ctx.triggerCreatedAt, ctx.triggerCommentId), limits.maxChars);
        } catch (err: unknown) {
          return failure(err, "the thread");
        }
      },
    });
  }

  const getDiff = forge.getDiff?.bind(forge);
  if (getDiff && thread.kind === "change_request") {
    tools.get_diff = tool({
      description: "Read the change request's diff (unified format, truncated when large).",
      inputSchema: z.object({}),
      execute: async () => {
        try {
          return fence(truncate(revealInvisible(await getDiff(thread)), limits.maxChars), { kind: "diff" });
        } catch (err: unknown) {
          return failure(err, "the diff");
        }
      },
    });
  }

  const readFile = forge.readFile?.bind(forge);
  if (readFile) {
    tools.read_file = tool({
      description: "Read a file of the repository at a ref (default: the change request's head, else the default branch).",
      inputSchema: z.object({ path: z.string().min(1).describe("Path from the repository root"), ref: z.string().optional().describe("Branch, tag or commit") }),
      execute: async ({ path, ref }) => {
        try {
          const file = cleanPath(path);
          const at = await defaultRef(ref);
          const text = await readFile(thread, file, at);
          if (text.includes("\u0000")) return `${file} is a binary file.`;
          return fence(truncate(revealInvisible(text), limits.maxChars), { kind: "file", path: file, ref: at });
        } catch (err: unknown) {
          return failure(err, path);
        }
      },
    });
  }

  const listDirectory = forge.listDirectory?.bind(forge);
  if (listDirectory) {
    tools.list_directory = tool({
      description: "List a directory of the repository at a ref (default: the change request's head, else the default branch).",
      inputSchema: z.object({ path: z.string().optional().describe("Directory from the repository root; empty for the root"), ref: z.string().optional() }),
      execute: async ({ path, ref }) => {
        try {
          const dir = cleanPath(path);
          const entries = await listDirectory(thread, dir, await defaultRef(ref));
          const lines = entries.slice(0, limits.maxEntries).map((e) => (e.type === "dir" ? `${e.path}/` : e.path));
          if (entries.length > limits.maxEntries) lines.push(`[${entries.length - limits.maxEntries} more entries not shown]`);
          return fence(revealInvisible(lines.join("\n") || "(empty directory)"), { kind: "directory", path: dir || "/" });
        } catch (err: unknown) {
          return failure(err, path || "the root directory");
        }
      },
    });
  }
  return tools;
}
