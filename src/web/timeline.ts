import type { CheckpointRow, SessionEventRow, Timeline } from "../storage/session-views.js";
import { stepHeading, stepParts, toJson, type StepPart } from "./checkpoint-delta.js";
import { durationLabel, humanize, modelLabel, timeLabel, tokensLabel } from "./format.js";
import { safeHttpUrl } from "./markdown.js";

/**
 * The session's timeline as the page shows it: `session_events` rows and checkpoints (steps),
 * merged by time. Each item has a stable key (`e<id>`, `s<seq>`) so the live stream can append
 * items without repeating one the page already holds.
 */

export type Tone = "info" | "ok" | "warn" | "error";

export type TimelineItem = {
  key: string;
  at: Date;
  time: string;
  tone: Tone;
  title: string;
  detail: string | null;
  link: { href: string; text: string } | null;
  step: { model: string | null; tokens: string | null; parts: StepPart[] } | null;
};

/** Signed, relative link to another session's page. */
export type SessionHref = (sessionId: number) => string;

type Described = Pick<TimelineItem, "title" | "tone"> & Partial<Pick<TimelineItem, "detail" | "link">>;

function text(value: unknown): string | null {
  return typeof value === "string" || typeof value === "number" ? String(value) : null;
}

function statusTone(status: string | null): Tone {
  if (status === "finished") return "ok";
  if (status === "failed") return "error";
  if (status === "stopped" || status === "input_required" || status?.endsWith("approval_required")) return "warn";
  return "info";
}

function joinDetail(...parts: (string | null | false)[]): string | null {
  const kept = parts.filter((p): p is string => typeof p === "string" && p !== "");
  return kept.length ? kept.join(" · ") : null;
}

function describeEvent(event: SessionEventRow, href: SessionHref): Described {
  const d = event.data;
  const run = typeof d.run === "number" && d.run > 1 ? `run ${d.run}` : null;
  switch (event.kind) {
    case "created": {
      const parent = typeof d.parentSessionId === "number" ? d.parentSessionId : null;
      if (parent === null) return { title: "Session created", tone: "info" };
      return { title: "Session created as a retry of", tone: "info", link: { href: href(parent), text: `session ${parent}` } };
    }
    case "status": {
      const to = text(d.to);
      const by = text(d.by);
      return {
        title: `Status: ${humanize(text(d.from) ?? "?")} → ${humanize(to ?? "?")}`,
        tone: statusTone(to),
        detail: joinDetail(by && `by ${by}`, text(d.reason) && `reason: ${text(d.reason)}`, run),
      };
    }
    case "started_note_posted":
      return { title: d.found ? "Started note found (already posted)" : "Started note posted", tone: "info", detail: run };
    case "started_note_deleted":
      return { title: d.alreadyGone ? "Started note was already gone" : "Started note deleted", tone: "info" };
    case "started_note_delete_failed":
      return {
        title: "Started note could not be deleted",
        tone: "error",
        detail: joinDetail(text(d.status) && `HTTP ${text(d.status)}`, text(d.error)),
      };
    case "reply_posted":
      return { title: "Reply posted", tone: "ok", detail: run };
    case "reply_found":
      return { title: "Reply found (already posted)", tone: "ok", detail: run };
    case "error":
      return { title: `Error: ${humanize(text(d.reason) ?? "unknown")}`, tone: "error", detail: text(d.detail) };
    case "review_posted":
    case "review_found": {
      const url = safeHttpUrl(text(d.url));
      const commit = text(d.commit);
      return {
        title: event.kind === "review_posted" ? "Review posted" : "Review found (already posted)",
        tone: "ok",
        detail: joinDetail(commit && `on ${commit.slice(0, 7)}`, `${text(d.inline) ?? 0} inline comments`, Number(d.refused) > 0 && `${text(d.refused)} refused by the forge`, text(d.headMovedTo) && `the head moved to ${text(d.headMovedTo)!.slice(0, 7)}`),
        ...(url ? { link: { href: url, text: "View the review" } } : {}),
      };
    }
    case "published": {
      const url = safeHttpUrl(text(d.url));
      const commit = text(d.commit);
      return {
        title: `Published as ${text(d.changeRequest) ?? "a change request"}`,
        tone: "ok",
        detail: joinDetail(text(d.branch) && `branch ${text(d.branch)}`, commit && `commit ${commit.slice(0, 12)}`, run),
        ...(url ? { link: { href: url, text: "View it" } } : {}),
      };
    }
    case "publish_refused":
      return { title: "Publish refused", tone: "warn", detail: joinDetail(text(d.reason), run) };
    case "publish_conflict":
      return { title: "Publish stopped: the change conflicts with the moved base", tone: "warn", detail: joinDetail(Array.isArray(d.paths) ? (d.paths as unknown[]).map(String).join(", ") : null, run) };
    case "publish_failed":
      return { title: "Publish failed", tone: "error", detail: joinDetail(text(d.detail), run) };
    case "retried": {
      const child = typeof d.sessionId === "number" ? d.sessionId : null;
      const by = text(d.by);
      if (child === null) return { title: "Retried", tone: "info" };
      return { title: "Retried as", tone: "info", detail: by && `by ${by}`, link: { href: href(child), text: `session ${child}` } };
    }
    default:
      return { title: humanize(event.kind), tone: "info", detail: Object.keys(d).length ? toJson(d) : null };
  }
}

export function eventItem(event: SessionEventRow, href: SessionHref): TimelineItem {
  const described = describeEvent(event, href);
  return {
    key: `e${event.id}`,
    at: event.createdAt,
    time: timeLabel(event.createdAt),
    detail: null,
    link: null,
    step: null,
    ...described,
  };
}

export function stepItem(checkpoint: CheckpointRow): TimelineItem {
  const model = modelLabel(checkpoint.model);
  const heading = stepHeading(checkpoint.delta);
  const usage = checkpoint.usage;
  const cost = typeof usage.costUsd === "number" ? `$${usage.costUsd.toFixed(4)}` : null;
  const took = typeof usage.durationMs === "number" && usage.durationMs > 0 ? durationLabel(usage.durationMs) : null;
  return {
    key: `s${checkpoint.seq}`,
    at: checkpoint.createdAt,
    time: timeLabel(checkpoint.createdAt),
    tone: heading.title === "Interrupted" ? "warn" : "info",
    title: heading.title ? `Step ${checkpoint.seq}: ${heading.title}` : `Step ${checkpoint.seq}`,
    detail: heading.detail,
    link: null,
    step: {
      model: model ? [model.model, model.provider && `(${model.provider})`].filter(Boolean).join(" ") : null,
      tokens: [tokensLabel(usage), took, cost].filter(Boolean).join(" · ") || null,
      parts: stepParts(checkpoint.delta),
    },
  };
}

/** Events and steps in time order; at equal times events (status changes) come first. */
export function timelineItems(timeline: Timeline, href: SessionHref): TimelineItem[] {
  const items = [...timeline.events.map((e) => eventItem(e, href)), ...timeline.checkpoints.map(stepItem)];
  return items.sort((a, b) => a.at.getTime() - b.at.getTime() || (a.key[0] === b.key[0] ? 0 : a.key[0] === "e" ? -1 : 1));
}
