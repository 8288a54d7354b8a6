import { tool, type ToolSet } from "ai";
import { z } from "zod";
import { truncate, truncateMiddle } from "../sessions/text.js";
import { WorkspaceError, WorkspaceRefusal, WorkspaceTooLargeError } from "../workspace/errors.js";
import {
  deleteWorkspaceFile,
  editWorkspaceFile,
  listWorkspaceFiles,
  moveWorkspaceFile,
  readWorkspaceFile,
  runInWorkspace,
  searchWorkspace,
  workspaceDiff,
  writeWorkspaceFile,
} from "../workspace/operations.js";
import type { CommandResult } from "../workspace/sandbox.js";
import type { Workspace } from "../workspace/workspace.js";
import { DEFAULT_TOOL_LIMITS, type ToolLimits } from "./tools.js";
import { fence, revealInvisible } from "./untrusted.js";

/** The tool a `run` call is, by name (the flow records and recovers these). */
export const RUN_TOOL = "run";

/** What the workspace tools need from the change flow. */
export type ChangeToolContext = {
  /** The session's workspace, made on first use (later calls get the same one). */
  workspace(): Promise<Workspace>;
  /** Why `run` is not offered (the sandbox failed its self-test), or null when it is. */
  commandsUnavailable: string | null;
  /** The write-ahead record of a command: called before it starts; returns what finishes it. */
  recordCommand(toolCallId: string, command: string): Promise<(result: CommandResult) => Promise<void>>;
  /** Aborted on stop and shutdown: a running command is killed. */
  signal: AbortSignal;
  /** Refreshes the session's heartbeat after long operations. */
  heartbeat(): Promise<void>;
  limits?: ToolLimits;
};

/** Most search matches returned. */
const MAX_MATCHES = 100;

/** A tool failure as the agent reads it (and the page shows it). */
function failure(err: unknown): string {
  if (err instanceof WorkspaceRefusal) return `Refused: ${err.message}`;
  if (err instanceof WorkspaceTooLargeError) return `Error: the workspace could not be made: ${err.message}. You cannot read or change files in this session; say so in your answer.`;
  if (err instanceof WorkspaceError) return `Error: the workspace could not be made (${err.phase}): ${err.message}. You cannot read or change files in this session; say so in your answer.`;
  const message = err instanceof Error ? err.message : String(err);
  return `Error: ${message.slice(0, 500)}`;
}

/** The first tool result of a session mentions what the snapshot left out. */
function snapshotNote(workspace: Workspace, told: { value: boolean }): string {
  if (told.value) return "";
  told.value = true;
  const skipped = workspace.snapshot.skipped;
  if (skipped.length === 0) return "";
  const items = skipped.slice(0, 20).map((s) => `- ${s.path}: ${s.reason}`);
  return `\n\nNote: the repository snapshot left out ${skipped.length} archive entr${skipped.length === 1 ? "y" : "ies"} that could not be extracted safely:\n${items.join("\n")}`;
}

function commandText(command: string, result: CommandResult & { notes: string[] }, maxChars: number): string {
  const status =
    result.outcome === "timeout" ? `killed at the time limit after ${(result.durationMs / 1000).toFixed(1)} s`
    : result.outcome === "limit" ? `stopped by a resource limit (${result.signal})`
    : result.outcome === "unavailable" ? "not run: the sandbox is not available"
    : `exit code ${result.exitCode ?? result.signal}`;
  const head = `$ ${command}\n${status} (${(result.durationMs / 1000).toFixed(1)} s, ${result.outputBytes} bytes of output)`;
  const output = result.output.trim() ? fence(truncateMiddle(revealInvisible(result.output), maxChars), { kind: "command output" }) : "(no output)";
  return [head, output, ...result.notes].join("\n\n");
}

/**
 * The change flow's workspace tools. Each returns text the agent reads: a refusal says why and
 * changes nothing, a file or command output is fenced as untrusted data. Every call and result
 * lands in the step's checkpoint; what a call changed in the tree is recorded with it too.
 */
export function createChangeTools(ctx: ChangeToolContext): ToolSet {
  const limits = ctx.limits ?? DEFAULT_TOOL_LIMITS;
  const told = { value: false };
  async function withWorkspace(fn: (ws: Workspace) => Promise<string>): Promise<string> {
    try {
      const ws = await ctx.workspace();
      const note = snapshotNote(ws, told);
      return (await fn(ws)) + note;
    } catch (err: unknown) {
      return failure(err);
    }
  }

  const tools: ToolSet = {
    list_files: tool({
      description: "List the repository's files (tracked and new; ignored files left out) under a directory, recursively.",
      inputSchema: z.object({ path: z.string().optional().describe("Directory from the repository root; empty for everything") }),
      execute: ({ path }) =>
        withWorkspace(async (ws) => {
          const { files, total } = await listWorkspaceFiles(ws, path ?? "", limits.maxEntries);
          const more = total > files.length ? `\n[${total - files.length} more files not shown: list a subdirectory]` : "";
          return fence(revealInvisible(files.join("\n") || "(no files)") + more, { kind: "file list", path: path || "/" });
        }),
    }),
    read_file: tool({
      description: "Read a file of the workspace, optionally a range of lines (1-based, inclusive). Binary files are reported by size.",
      inputSchema: z.object({
        path: z.string().min(1),
        start_line: z.number().int().min(1).optional(),
        end_line: z.number().int().min(1).optional(),
      }),
      execute: ({ path, start_line, end_line }) =>
        withWorkspace(async (ws) => {
          const read = await readWorkspaceFile(ws, path, { startLine: start_line, endLine: end_line });
          if (read.kind === "binary") return `${read.path}: binary, ${read.bytes} bytes`;
          const range = read.totalLines === 0 ? "empty file" : `lines ${read.startLine}-${read.endLine} of ${read.totalLines}`;
          return fence(truncate(revealInvisible(read.text), limits.maxChars), { kind: "file", path: read.path, lines: range });
        }),
    }),
    search: tool({
      description: "Search the workspace's text files for a POSIX extended regular expression (grep -E). Returns path:line:text, bounded.",
      inputSchema: z.object({
        pattern: z.string().min(1),
        path: z.string().optional().describe("Limit the search to this directory or file"),
        ignore_case: z.boolean().optional(),
      }),
      execute: ({ pattern, path, ignore_case }) =>
        withWorkspace(async (ws) => {
          const { matches, more } = await searchWorkspace(ws, pattern, { path, ignoreCase: ignore_case, limit: MAX_MATCHES });
          if (matches.length === 0) return `No matches for ${JSON.stringify(pattern)}.`;
          const tail = more ? `\n[more matches not shown: narrow the pattern or the path]` : "";
          return fence(truncate(revealInvisible(matches.join("\n")), limits.maxChars) + tail, { kind: "search results", pattern });
        }),
    }),
    write_file: tool({
      description: "Create a file or replace its whole content.",
      inputSchema: z.object({ path: z.string().min(1), content: z.string() }),
      execute: ({ path, content }) => withWorkspace(async (ws) => (await writeWorkspaceFile(ws, path, content)).notes.join(" ")),
    }),
    edit_file: tool({
      description: "Replace text in a file. old_text must occur exactly once in the file (copy it exactly, whitespace included).",
      inputSchema: z.object({ path: z.string().min(1), old_text: z.string().min(1), new_text: z.string() }),
      execute: ({ path, old_text, new_text }) => withWorkspace(async (ws) => (await editWorkspaceFile(ws, path, old_text, new_text)).notes.join(" ")),
    }),
    delete_file: tool({
      description: "Delete a file (or a directory with everything in it).",
      inputSchema: z.object({ path: z.string().min(1) }),
      execute: ({ path }) => withWorkspace(async (ws) => (await deleteWorkspaceFile(ws, path)).notes.join(" ")),
    }),
    move_file: tool({
      description: "Move or rename a file or directory.",
      inputSchema: z.object({ from: z.string().min(1), to: z.string().min(1) }),
      execute: ({ from, to }) => withWorkspace(async (ws) => (await moveWorkspaceFile(ws, from, to)).notes.join(" ")),
    }),
    show_diff: tool({
      description: "Show the change so far against the repository's commit: the stat and the unified diff.",
      inputSchema: z.object({}),
      execute: () =>
        withWorkspace(async (ws) => {
          const patch = await workspaceDiff(ws);
          if (patch.filesChanged === 0) return "No changes yet.";
          return fence(truncate(revealInvisible(`${patch.stat}\n\n${patch.diff}`), limits.maxChars), { kind: "diff" });
        }),
    }),
  };

  if (!ctx.commandsUnavailable) {
    tools[RUN_TOOL] = tool({
      description:
        "Run a shell command (sh -c) in the repository root, in a sandbox without network. Returns the exit code and the output (long output keeps its start and end). Files it changes become part of the change.",
      inputSchema: z.object({ command: z.string().min(1).max(10_000) }),
      execute: ({ command }, { toolCallId }) =>
        withWorkspace(async (ws) => {
          let finish: ((result: CommandResult) => Promise<void>) | null = null;
          const result = await runInWorkspace(ws, command, {
            signal: ctx.signal,
            beforeRun: async () => {
              finish = await ctx.recordCommand(toolCallId, command);
            },
          });
          await (finish as ((result: CommandResult) => Promise<void>) | null)?.(result);
          await ctx.heartbeat();
          return commandText(command, result, limits.maxChars);
        }),
    });
  }
  return tools;
}
