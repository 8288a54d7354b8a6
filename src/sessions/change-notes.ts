import { codeFence, plural, truncate } from "./text.js";

/**
 * The texts of change sessions: the fixed line for people the `code_changes` flag leaves out,
 * and the result a change session ends with (the model's summary, the stat, the diff folded
 * away, the commands it ran, and how to apply the patch), cut to fit the forge's note size.
 */

/** The one line answered when code changes are not enabled for the user or the repository. */
export function changesNotEnabledText(handle: string): string {
  return `Code changes are not enabled for you in this repository, so @${handle} did not start a change session.`;
}

export type ChangeCommandLine = { command: string; exitCode: number | null; outcome: string };

export type ChangeResultInput = {
  sessionId: number;
  /** The model's closing summary (already stripped of markers). */
  summary: string;
  /** Null when the session changed nothing. */
  patch: { diff: string; stat: string; filesChanged: number; insertions: number; deletions: number; baseRef: string; baseSha: string } | null;
  commands: readonly ChangeCommandLine[];
  /** The signed download URL of the patch. */
  patchUrl: string;
  /** Lines added at the end (a bad `.forgebot.yml`, commands not available, …). */
  notes: readonly string[];
  /** What happens next, right after the diff (how to approve it, or where it was published). */
  action?: string | undefined;
  /** Characters the result may take (the forge's note limit minus what the reply adds). */
  maxChars: number;
};

function commandLine(c: ChangeCommandLine): string {
  const status = c.outcome === "timeout" ? "killed at the time limit" : c.outcome === "limit" ? "stopped by a resource limit" : c.outcome === "unavailable" ? "not run" : `exit ${c.exitCode ?? "?"}`;
  const shown = c.command.length > 120 ? `${c.command.slice(0, 117)}...` : c.command;
  return `- \`${shown.replace(/`/g, "'")}\` → ${status}`;
}

/** The result markdown of a change session. */
export function changeResultText(input: ChangeResultInput): string {
  const summary = input.summary.trim() || "Done.";
  const { patch } = input;
  let commands: string | null = null;
  if (input.commands.length) {
    const shown = input.commands.slice(-10);
    const earlier = input.commands.length - shown.length;
    commands = [`**Commands run**${earlier ? ` (the last ${shown.length} of ${input.commands.length})` : ""}`, "", ...shown.map(commandLine)].join("\n");
  }
  if (!patch || patch.filesChanged === 0) {
    return truncate([summary, commands, "No files were changed.", ...input.notes].filter(Boolean).join("\n\n"), input.maxChars, "characters of the answer");
  }
  const totals = `${plural(patch.filesChanged, "file")} changed, ${plural(patch.insertions, "insertion")}(+), ${plural(patch.deletions, "deletion")}(-)`;
  const statFence = codeFence(patch.stat);
  const stat = `**Changes** against \`${patch.baseRef}\` (\`${patch.baseSha.slice(0, 12)}\`): ${totals}\n\n${statFence}text\n${patch.stat}\n${statFence}`;
  const file = `forgebot-session-${input.sessionId}.patch`;
  const apply = [
    `**To apply:** [download the patch](${input.patchUrl}) and, in a checkout of \`${patch.baseSha.slice(0, 12)}\`, run \`git apply ${file}\`. Or:`,
    "",
    "```sh",
    `curl -fsSL '${input.patchUrl}' | git apply`,
    "```",
  ].join("\n");
  const around = [summary, commands, stat, input.action, apply, ...input.notes].filter(Boolean).join("\n\n");
  // The diff is folded away, and is what gets cut when the note would be too long.
  const room = input.maxChars - around.length - 300;
  const fence = codeFence(patch.diff);
  const shown = room > 200 ? truncate(patch.diff, room, "characters of the diff; the whole patch is on the session page") : "[the diff is too long for a note; the whole patch is on the session page]";
  const details = `<details><summary>Diff (${plural(patch.diff.split("\n").length, "line")})</summary>\n\n${fence}diff\n${shown}\n${fence}\n\n</details>`;
  return truncate([summary, commands, stat, details, input.action, apply, ...input.notes].filter(Boolean).join("\n\n"), input.maxChars, "characters of the answer");
}
