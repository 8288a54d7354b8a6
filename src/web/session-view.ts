import { errorText, isErrorReason } from "../sessions/notes.js";
import type { ForgeProfile } from "../sessions/forge-port.js";
import type { Session } from "../sessions/session.js";
import { isTerminal, type SessionStatus } from "../sessions/state-machine.js";
import type { SessionSummary } from "../storage/session-views.js";
import { costLabel, durationLabel, humanize, isMoving, modelLabel, timeLabel, tokensLabel } from "./format.js";
import { renderMarkdown, safeHttpUrl } from "./markdown.js";
import type { ActionForm, ActionNote } from "./session-actions.js";
import { reviewView, type ReviewView } from "./review-view.js";
import type { SessionHref } from "./timeline.js";

/**
 * The summary half of the session page (status, facts, prompt, result, error, actions) as plain
 * data for the templates and the JSON API. Which of Retry and Stop appear, or the line said
 * instead, is session-actions.ts's decision for the viewer.
 */

export type Link = { href: string; text: string };

export type SummaryView = {
  id: number;
  status: SessionStatus;
  statusLabel: string;
  moving: boolean;
  terminal: boolean;
  title: string;
  thread: { label: string; url: string | null };
  forge: string;
  repo: string;
  askedBy: string;
  flow: string;
  prompt: string;
  parent: Link | null;
  origin: string;
  provider: string | null;
  model: string | null;
  /** Tokens and steps: "1,234 in / 56 out tokens · 2 steps". */
  usage: string | null;
  cost: string | null;
  duration: string | null;
  created: string;
  finished: string | null;
  result: { label: string; html: string } | null;
  error: { reason: string; text: string; detail: string | null } | null;
  retries: (Link & { status: string })[];
  retry: ActionForm | null;
  stop: ActionForm | null;
  actionNote: ActionNote | null;
  /** A review session's findings (review-view.ts); null for other sessions. */
  review: ReviewView | null;
};

export type SummaryLinks = {
  sessionHref: SessionHref;
  /** The session's forge's words. */
  profile: ForgeProfile;
  /** Present when the retry button may be shown: the form's action and CSRF token. */
  retryForm: ActionForm | null;
  /** Present when the stop button may be shown. */
  stopForm?: ActionForm | null;
  /** What to do instead of a button the viewer does not get. */
  actionNote?: ActionNote | null;
};

const ORIGINS: Record<Session["origin"], string> = {
  mention: "Mention",
  retry_command: "Retry (command)",
  retry_button: "Retry (button)",
};

function threadLabel(session: Session, profile: ForgeProfile): string {
  const kind = session.threadKind === "issue" ? "Issue" : humanize(profile.changeRequestName);
  return `${kind} ${session.repoPath}${profile.threadReference(session.threadKind, session.threadNumber)}`;
}

function durationMs(session: Session, now: Date): number | null {
  if (session.finishedAt) return session.finishedAt.getTime() - session.createdAt.getTime();
  if (typeof session.usage.durationMs === "number") return session.usage.durationMs;
  return isMoving(session.status) ? now.getTime() - session.createdAt.getTime() : null;
}

/** The fixed error text of a failed or stopped session (null for any other status). */
export function errorView(session: Session, detail: string | null): SummaryView["error"] {
  if (session.status !== "failed" && session.status !== "stopped") return null;
  const reason = session.errorReason;
  const fallback = session.status === "stopped" ? "stopped" : "internal";
  return { reason: reason ?? session.status, text: errorText(isErrorReason(reason) ? reason : fallback), detail };
}

export function summaryView(summary: SessionSummary, links: SummaryLinks, now = new Date()): SummaryView {
  const { session } = summary;
  const model = modelLabel(session.selectedModelMetadata) ?? modelLabel(summary.firstStepModel);
  const result = session.result?.trim()
    ? { label: session.status === "input_required" ? "Question" : session.status === "plan_approval_required" ? "Change waiting for approval" : "Result", html: renderMarkdown(session.result) }
    : null;
  return {
    id: session.id,
    status: session.status,
    statusLabel: humanize(session.status),
    moving: isMoving(session.status),
    terminal: isTerminal(session.status),
    title: session.callbackContext.title,
    thread: { label: threadLabel(session, links.profile), url: safeHttpUrl(session.callbackContext.threadUrl) },
    forge: `${links.profile.displayName} (${session.host})`,
    repo: session.repoPath,
    askedBy: session.actor.login,
    flow: session.flow,
    prompt: session.prompt,
    parent: session.parentSessionId ? { href: links.sessionHref(session.parentSessionId), text: `Session ${session.parentSessionId}` } : null,
    origin: ORIGINS[session.origin] ?? session.origin,
    provider: model?.provider ?? null,
    model: model?.model ?? null,
    usage: [tokensLabel(session.usage), summary.steps ? `${summary.steps} ${summary.steps === 1 ? "step" : "steps"}` : null].filter(Boolean).join(" · ") || null,
    cost: costLabel(session.usage),
    duration: durationLabel(durationMs(session, now)),
    created: timeLabel(session.createdAt),
    finished: session.finishedAt ? timeLabel(session.finishedAt) : null,
    result,
    error: errorView(session, summary.errorDetail),
    retries: summary.retries.map((r) => ({ href: links.sessionHref(r.id), text: `Session ${r.id}`, status: humanize(r.status) })),
    retry: links.retryForm,
    stop: links.stopForm ?? null,
    actionNote: links.actionNote ?? null,
    review: summary.review ? reviewView(summary.review) : null,
  };
}
