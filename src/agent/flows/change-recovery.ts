import type { ModelMessage } from "ai";
import type { CommandRecord } from "../../workspace/store.js";
import type { StepEffect } from "../../workspace/workspace.js";
import { RUN_TOOL } from "../change-tools.js";
import { chainOf, type Checkpoint } from "../checkpoints.js";
import { resultIds } from "../state.js";

/**
 * How a change session survives a crash mid-step. A step's tools run inside one model call and
 * its checkpoint is written after it, so a worker can die after a command ran and before that
 * was recorded. Every `run` is written ahead (session_commands) with the checkpoint seq its
 * step started after; on resume, a command whose step never got its checkpoint is closed in a
 * `recovered` checkpoint saying it was cut short — it is never run again, and the workspace
 * goes back to the tree the last checkpoint recorded.
 */

/** The tool-call ids of each step checkpoint, and the command ids already recovered. */
function recordedCalls(chain: readonly Checkpoint[]): { stepCalls: Map<number, Set<string>>; recovered: Set<number> } {
  const stepCalls = new Map<number, Set<string>>();
  const recovered = new Set<number>();
  for (const c of chain) {
    if (c.delta.kind === "step") stepCalls.set(c.seq, resultIds(c.delta.messages));
    if (c.delta.kind === "recovered") {
      const ids = (c.delta.data?.commandIds ?? []) as unknown[];
      for (const id of ids) if (typeof id === "number") recovered.add(id);
    }
  }
  return { stepCalls, recovered };
}

/** Commands written ahead whose step never recorded them and that no recovery closed yet. */
export function unrecordedCommands(commands: readonly CommandRecord[], checkpoints: readonly Checkpoint[]): CommandRecord[] {
  const { stepCalls, recovered } = recordedCalls(chainOf(checkpoints));
  return commands.filter((c) => !recovered.has(c.id) && !stepCalls.get(c.afterSeq + 1)?.has(c.toolCallId));
}

function cutShortText(c: CommandRecord): string {
  const known =
    c.status === "finished"
      ? ` It had finished (${c.outcome === "exit_zero" || c.outcome === "exit_nonzero" ? `exit code ${c.exitCode}` : c.outcome}) before the stop; its output then:\n${c.output ?? "(none)"}`
      : "";
  return `The worker running this session stopped while this command ran, before its result was recorded. It was not run again, and what it changed in files was discarded: the workspace is as the last recorded step left it.${known}`;
}

/** A model step made of the cut-short commands and their results, to record before going on. */
export function recoveredCommandMessages(commands: readonly CommandRecord[]): ModelMessage[] {
  return [
    {
      role: "assistant",
      content: commands.map((c) => ({ type: "tool-call" as const, toolCallId: `recovered-${c.id}`, toolName: RUN_TOOL, input: { command: c.command } })),
    },
    {
      role: "tool",
      content: commands.map((c) => ({ type: "tool-result" as const, toolCallId: `recovered-${c.id}`, toolName: RUN_TOOL, output: { type: "text" as const, value: cutShortText(c) } })),
    },
  ];
}

/** The workspace effects recorded on the chain, oldest first. */
export function recordedEffects(checkpoints: readonly Checkpoint[]): StepEffect[] {
  const effects: StepEffect[] = [];
  for (const c of chainOf(checkpoints)) {
    if (c.delta.kind !== "step") continue;
    const tree = (c.delta.effects as { tree?: StepEffect } | undefined)?.tree;
    if (tree && typeof tree.patch === "string" && typeof tree.to === "string") effects.push(tree);
  }
  return effects;
}
