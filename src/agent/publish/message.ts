import { stripMarkers } from "../../sessions/notes.js";
import { truncate } from "../../sessions/text.js";

/**
 * The names and texts a publish writes on the forge, all derived from the session alone so a
 * repeated attempt writes the same ones: the branch `forgebot/<session>-<slug>`, the commit
 * message (a summary line from the request, a body, then the `Co-authored-by:` and
 * `Forgebot-Session:` trailers), and the change request's title and body.
 */

/** Longest slug in a branch name. */
const MAX_SLUG = 40;
/** Git's convention for a summary line. */
const MAX_SUMMARY = 72;
const MAX_BODY_CHARS = 4000;

/** Lower-case words of the request joined by `-`, at most MAX_SLUG characters; "change" when none. */
export function slugOf(request: string): string {
  const words = request
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > MAX_SLUG) break;
    slug = next;
  }
  return slug || (words[0]?.slice(0, MAX_SLUG) ?? "") || "change";
}

/** The branch a session's change is published on (DESIGN.md: `forgebot/<session>-<slug>`). */
export function branchName(sessionId: number, request: string): string {
  return `forgebot/${sessionId}-${slugOf(request)}`;
}

/** The request's first line as a summary: capitalized, no trailing period, at most 72 characters. */
export function summaryLine(request: string): string {
  const first = stripMarkers(request).split("\n").map((l) => l.trim()).find(Boolean) ?? "";
  const clean = first.replace(/\s+/g, " ").replace(/[.:;,\s]+$/, "");
  if (!clean) return "Change requested in the thread";
  const capital = clean.charAt(0).toUpperCase() + clean.slice(1);
  return capital.length > MAX_SUMMARY ? `${capital.slice(0, MAX_SUMMARY - 1).trimEnd()}…` : capital;
}

/** Trailer lines a body must not carry: they would pose as this commit's own. */
const TRAILER_LINE = /^\s*(co-authored-by|forgebot-session|signed-off-by)\s*:/i;

export type CommitMessageInput = {
  request: string;
  /** The model's closing summary (untrusted text: markers and trailer-like lines are dropped). */
  summary: string;
  requester: string;
  /** `owner/name#12` style reference to the thread, and its URL when known. */
  thread: { label: string; url: string | null };
  coAuthor: string;
  sessionUrl: string;
};

/** The `Forgebot-Session:` trailer: the line a repeated publish recognizes its own commit by. */
export function sessionTrailer(sessionUrl: string): string {
  return `Forgebot-Session: ${sessionUrl}`;
}

export function commitMessage(input: CommitMessageInput): string {
  const body = stripMarkers(input.summary)
    .split("\n")
    .filter((line) => !TRAILER_LINE.test(line))
    .join("\n")
    .trim();
  const asked = `Requested by @${input.requester} in ${input.thread.label}${input.thread.url ? ` (${input.thread.url})` : ""}.`;
  return [
    summaryLine(input.request),
    "",
    asked,
    ...(body ? ["", truncate(body, MAX_BODY_CHARS, "characters of the summary")] : []),
    "",
    `Co-authored-by: ${input.coAuthor}`,
    sessionTrailer(input.sessionUrl),
  ].join("\n");
}

export type ChangeRequestBodyInput = {
  summary: string;
  requester: string;
  thread: { reference: string; label: string; url: string | null };
  sessionId: number;
  sessionUrl: string;
  stat: string;
  /** Lines explaining where the change goes (stacked, fork), already written. */
  notes: readonly string[];
};

/** The change request's description: what changed, who asked where, the session, the stat. */
export function changeRequestBody(input: ChangeRequestBodyInput): string {
  const summary = stripMarkers(input.summary).trim();
  const thread = input.thread.url ? `[${input.thread.label}](${input.thread.url})` : input.thread.label;
  const fence = "```";
  return [
    ...(summary ? [truncate(summary, MAX_BODY_CHARS, "characters of the summary"), ""] : []),
    `Requested by @${input.requester} in ${thread}. Made by forgebot in [session ${input.sessionId}](${input.sessionUrl}), where the whole conversation, the commands it ran and the patch are.`,
    ...input.notes.flatMap((n) => ["", n]),
    ...(input.stat ? ["", `${fence}text`, input.stat.replace(/```/g, "'''"), fence] : []),
  ].join("\n");
}
