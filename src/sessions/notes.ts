/**
 * Every text forgebot posts on a forge. Hidden markers let a repeated job find the note it
 * already posted instead of posting again.
 */

export type ErrorReason =
  | "no_model"
  | "model_unavailable"
  | "rate_limited"
  | "timeout"
  | "no_response"
  | "stopped"
  | "max_steps"
  | "max_tokens"
  | "review_diff_unavailable"
  | "review_not_posted"
  | "internal";

/** The kinds of hidden marker forgebot puts in what it posts. */
export type MarkerKind = "started" | "reply" | "notice" | "review";

/**
 * The one marker format: `<!-- forgebot:<kind> <attributes> -->`, e.g.
 * `<!-- forgebot:started session=12 -->`. Run 1 leaves `run=` out (markers of older notes).
 */
function marker(kind: MarkerKind, attributes: string): string {
  return `<!-- forgebot:${kind} ${attributes} -->`;
}

function sessionAttributes(sessionId: number, run: number): string {
  return run === 1 ? `session=${sessionId}` : `session=${sessionId} run=${run}`;
}

/** Any forgebot marker, with its kind captured. */
const MARKER_PATTERN = /<!--\s*forgebot:([a-z_]*)[\s\S]*?-->/i;
const MARKERS = new RegExp(MARKER_PATTERN.source, "gi");

export function startedMarker(sessionId: number, run = 1): string {
  return marker("started", sessionAttributes(sessionId, run));
}

export function replyMarker(sessionId: number, run = 1): string {
  return marker("reply", sessionAttributes(sessionId, run));
}

export function reviewMarker(sessionId: number): string {
  return marker("review", `session=${sessionId}`);
}

/** The marker of one inline comment of a session's review (`index` into the posted draft). */
export function reviewCommentMarker(sessionId: number, index: number): string {
  return marker("review", `session=${sessionId} comment=${index}`);
}

export function noticeMarker(key: string): string {
  return marker("notice", key);
}

/** The kind of the first forgebot marker in `body`, or null when it carries none. */
export function markerKind(body: string): MarkerKind | null {
  const kind = MARKER_PATTERN.exec(body)?.[1]?.toLowerCase();
  return kind === "started" || kind === "reply" || kind === "notice" || kind === "review" ? kind : null;
}

/** True when `body` carries a forgebot marker: a note forgebot posted (or one quoting it). */
export function hasMarker(body: string): boolean {
  return MARKER_PATTERN.test(body);
}

/**
 * Removes every forgebot marker, so model or user text we post can never make a later job take
 * that note for one of its own.
 */
export function stripMarkers(text: string): string {
  return text.replace(MARKERS, "");
}

/**
 * The started note. `byline` (say "Retried by @login") names who asked when no comment in the
 * thread does: a retry from the session page.
 */
export function startedNote(sessionId: number, url: string, run = 1, byline?: string): string {
  return [
    `Started session ${sessionId} and will let you know when it's finished.`,
    "",
    ...(byline ? [byline, ""] : []),
    `[View session](${url})`,
    "",
    startedMarker(sessionId, run),
  ].join("\n");
}

/** Who pressed the session page's Retry button, in that retry's notes. */
export function retriedByLine(mention: string): string {
  return `Retried by ${mention}`;
}

/** The one line `@forgebot retry` gets when `manual_retry` is off for the asker (no model is asked). */
export const RETRY_NOT_ALLOWED_TEXT = "Retrying sessions is not enabled here.";

const ERROR_TEXTS: Record<ErrorReason, string> = {
  no_model:
    "I can't answer yet: no model provider is configured for this forgebot installation. An administrator can set `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `MODELS_FILE`.",
  model_unavailable: "I couldn't reach the model provider, so this session ended without an answer. Please try again later.",
  rate_limited: "The model provider is rate limiting requests right now, so this session ended without an answer. Please try again in a few minutes.",
  timeout: "This session took too long and was ended before it finished.",
  no_response: "The model returned no response, so this session ended without an answer.",
  stopped: "This session was stopped.",
  max_steps: "This session reached its step limit before it finished.",
  max_tokens: "This session reached its token limit before it finished.",
  review_diff_unavailable:
    "I couldn't read this change's diff from the forge (it may be too large to serve, gone, or the forge is failing), so no review was posted.",
  review_not_posted: "I wrote a review but the forge would not store it, so no review was posted.",
  internal: "Something went wrong on forgebot's side while running this session.",
};

export function errorText(reason: ErrorReason): string {
  return ERROR_TEXTS[reason];
}

export function isErrorReason(value: string | null | undefined): value is ErrorReason {
  return value !== null && value !== undefined && value in ERROR_TEXTS;
}

/** The final reply: result, the session link, the marker. A blank result posts the link alone. */
export function replyNote(input: { sessionId: number; url: string; result: string | null; run?: number; footer?: string }): string {
  const parts: string[] = [];
  const result = input.result?.trim();
  if (result) parts.push(result, "");
  if (input.footer) parts.push(input.footer, "");
  parts.push(`[View session](${input.url})`, "", replyMarker(input.sessionId, input.run));
  return parts.join("\n");
}

export function permissionNote(input: { mention: string; handle: string; who: string; actorId: string }): string {
  return [
    `${input.mention} only ${input.who} can use @${input.handle} here, so I didn't start a session.`,
    "",
    noticeMarker(`denied actor=${input.actorId}`),
  ].join("\n");
}

/**
 * The help reply; `retry` is listed only when the asker may use it (`manual_retry`), `change` and
 * `apply` only when change sessions are on for them or the repository (`code_changes`).
 */
export function helpText(handle: string, changeRequestName: string, options: { retry?: boolean; changes?: boolean } = {}): string {
  return [
    `**@${handle}** answers questions about this issue or ${changeRequestName}.`,
    "",
    `- \`@${handle} <request>\` starts a session that reads the thread and the code and replies here.`,
    `- \`@${handle} review [all] [focus]\` reviews a ${changeRequestName}: comments on the lines of its diff, with suggestions you can apply (\`all\`: the whole change, not only what changed since the last review).`,
    ...(options.changes
      ? [
          `- \`@${handle} change <request>\` makes the change in a sandboxed copy of the repository and shows the diff; \`@${handle} apply\` then opens it as a draft ${changeRequestName} (\`apply here\` commits onto this ${changeRequestName}'s branch instead). Any other reply to the diff revises it.`,
        ]
      : []),
    `- \`@${handle} stop\` stops the session running in this thread.`,
    ...(options.retry === false ? [] : [`- \`@${handle} retry\` runs the previous session's request again.`]),
    `- \`@${handle} help\` shows this message.`,
    "",
    "Mentions inside code blocks and quotes are ignored. Only people who can write to the repository can start sessions.",
  ].join("\n");
}

/** The one line `review` gets outside a change request: reviews need one. */
export function reviewOnIssueText(changeRequestName: string): string {
  return `Reviews work on ${changeRequestName}s: mention me with \`review\` in a ${changeRequestName}'s thread.`;
}

/** `review` on an issue: the one line, once per delivery. No session, nothing spent. */
export function reviewOnIssueNote(changeRequestName: string, deliveryKey: string): string {
  return [reviewOnIssueText(changeRequestName), "", noticeMarker(`review delivery=${deliveryKey}`)].join("\n");
}

export function nothingToStopNote(deliveryKey: string): string {
  return ["There is no running session in this thread to stop.", "", noticeMarker(`stop delivery=${deliveryKey}`)].join("\n");
}
