import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PROMPTS_DIR = path.dirname(fileURLToPath(import.meta.url));

function load(name: string): string {
  return readFileSync(path.join(PROMPTS_DIR, name), "utf8");
}

const SYSTEM_TEMPLATE = load("system.md");
const REVIEW_TEMPLATE = load("review.md");
const CHANGE_TEMPLATE = load("change.md");

export type PromptValues = { handle: string; forgeName: string; changeRequestName: string };

/**
 * The system prompt. It depends only on the installation (never on the thread or the time), so
 * it stays byte-identical across a conversation and providers' prompt caches hit.
 */
export function systemPrompt(values: PromptValues): string {
  return fill(SYSTEM_TEMPLATE, values);
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => (key in values ? values[key]! : whole)).trim();
}

/** The review flow's system prompt: installation-only, like `systemPrompt`, so prompt caches hit. */
export function reviewSystemPrompt(values: PromptValues): string {
  return fill(REVIEW_TEMPLATE, values);
}

export type ReviewRequestValues = {
  actor: string;
  /** The requester's focus (`review <focus>`), sanitized; may be empty. */
  focus: string;
  forgeName: string;
  changeRequestName: string;
  reference: string;
  repoPath: string;
  fencedTitle: string;
  /** `.forgebot.yml` review.instructions, already fenced; null when the repository sets none. */
  fencedInstructions: string | null;
  /** "what changed since my last review at `abc1234`", "the whole change". */
  scope: string;
  group: number;
  groups: number;
  /** The group's numbered diff, already fenced. */
  fencedDiff: string;
};

/**
 * One group's request. Each group is asked in a fresh context window, so the request repeats
 * what every group needs (the focus, the repository's instructions, where the change is).
 */
export function reviewRequestMessage(v: ReviewRequestValues): string {
  return [
    `@${v.actor} asked for a review of ${v.repoPath} ${v.changeRequestName} ${v.reference} on ${v.forgeName}: ${v.scope}.`,
    v.focus.trim() ? `Their focus: ${v.focus.trim()}` : "They gave no particular focus.",
    "",
    `The ${v.changeRequestName}'s title:`,
    v.fencedTitle,
    ...(v.fencedInstructions ? ["", "The repository's review instructions (.forgebot.yml):", v.fencedInstructions] : []),
    "",
    `Group ${v.group} of ${v.groups}: review these files, then call submit_review once with your findings for them.`,
    v.fencedDiff,
  ].join("\n");
}

export type RequestValues = {
  actor: string;
  prompt: string;
  forgeName: string;
  threadName: string;
  /** How the forge refers to the thread: `#12`, or `!12` for a GitLab merge request. */
  reference: string;
  repoPath: string;
  /** The thread title, already fenced as untrusted data. */
  fencedTitle: string;
};

/** The session's first user message: the request (from someone allowed to ask) and where it was made. */
export function requestMessage(values: RequestValues): string {
  return [
    `@${values.actor} asked in ${values.repoPath} ${values.threadName} ${values.reference} on ${values.forgeName}:`,
    "",
    values.prompt.trim() || "(no text besides the mention: look at the thread and help with what it is about)",
    "",
    `The ${values.threadName}'s title:`,
    values.fencedTitle,
  ].join("\n");
}

/** The user's answer to `ask_user`, given by the next mention in the thread. */
export function answerMessage(actor: string, text: string): string {
  return `@${actor} answered:\n\n${text.trim() || "(an empty answer)"}`;
}

/**
 * The change flow's system prompt. `commandsUnavailable` is the reason `run` is not offered on
 * this worker (the sandbox failed its self-test), or null.
 */
export function changeSystemPrompt(values: PromptValues & { commandsUnavailable: string | null }): string {
  const commandsNote = values.commandsUnavailable ? ` In this session \`run\` is not available: ${values.commandsUnavailable}.` : "";
  const all: Record<string, string> = { handle: values.handle, forgeName: values.forgeName, changeRequestName: values.changeRequestName, commandsNote };
  return fill(CHANGE_TEMPLATE, all);
}

/** The tool result that closes the chat agent's switch to a change session. */
export function switchedToChangeMessage(): string {
  return "This session is now a change session: you have a workspace with the repository and tools to read, search, edit and run commands in it. Continue with the request.";
}
