import { z } from "zod";
import type { MentionEvent, NormalizeResult, RepoVisibility, ThreadRef } from "../../sessions/forge-port.js";

/** `X-Gitlab-Event` values we act on. Internal notes (and notes on confidential issues) use the second. */
export const HANDLED_EVENTS = ["Note Hook", "Confidential Note Hook"] as const;
export type GitLabHookName = (typeof HANDLED_EVENTS)[number];

/** Only the fields we read. Anything else in GitLab's payloads never leaves this file. */
const user = z.object({ id: z.number(), username: z.string() });

const noteAttributes = z.object({
  id: z.number(),
  note: z.string().nullish(),
  noteable_type: z.string(),
  author_id: z.number().nullish(),
  system: z.boolean().nullish(),
  // Missing before GitLab 16.11, when edits sent no hook at all.
  action: z.string().nullish(),
  // Every note has one (individual notes too); GitLab's docs examples leave it out.
  discussion_id: z.string().nullish(),
  type: z.string().nullish(),
  // `confidential` is the pre-15.3 name of `internal`.
  internal: z.boolean().nullish(),
  confidential: z.boolean().nullish(),
  created_at: z.string(),
  url: z.string().nullish(),
});

const notePayload = z.object({
  object_kind: z.literal("note"),
  user,
  project: z.object({ id: z.number(), path_with_namespace: z.string(), visibility_level: z.number().nullish(), visibility: z.string().nullish() }),
  object_attributes: noteAttributes,
  merge_request: z.object({ iid: z.number(), title: z.string() }).nullish(),
  issue: z.object({ iid: z.number(), title: z.string(), confidential: z.boolean().nullish() }).nullish(),
});

export type GitLabNormalizeContext = {
  /** The GitLab host recorded on threads (gitlab.com or the self-managed host). */
  host: string;
  /** The `Idempotency-Key` header, stable across GitLab's retries and manual resends. */
  idempotencyKey: string | undefined;
  /** The token's user id, once known. */
  selfUserId: string | null;
  /** Usernames that are us (the handle). */
  selfUsernames: readonly string[];
};

/**
 * GitLab's own bots and the users behind project/group access tokens and service accounts.
 * Payloads carry no "bot" flag, so the username is all we have at the edge.
 */
const INTERNAL_BOTS = new Set([
  "ghost",
  "support-bot",
  "alert-bot",
  "visual-review-bot",
  "gitlab-admin-bot",
  "automation-bot",
  "security-bot",
  "gitlab-security-bot",
  "gitlab-llm-bot",
  "duo-developer",
  "suggested-reviewers-bot",
]);

export function isBotUsername(username: string): boolean {
  const name = username.toLowerCase();
  return INTERNAL_BOTS.has(name) || /^(project|group)_\d+_bot(_[0-9a-f]+|\d*)$/.test(name) || name.startsWith("service_account_");
}

/** GitLab's `visibility_level` (0 private, 10 internal, 20 public), or its `visibility` name. */
export function gitlabVisibility(project: { visibility_level?: number | null | undefined; visibility?: string | null | undefined }): RepoVisibility | undefined {
  const named = project.visibility?.toLowerCase();
  if (named === "public" || named === "private" || named === "internal") return named;
  const byLevel: Record<number, RepoVisibility> = { 0: "private", 10: "internal", 20: "public" };
  return project.visibility_level === null || project.visibility_level === undefined ? undefined : byLevel[project.visibility_level];
}

function isoDate(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/**
 * Turns a GitLab Note Hook into a MentionEvent candidate (mention detection happens later, in
 * the forge-neutral intake). Notes on merge requests (individual, DiscussionNote, DiffNote) and
 * issues count; edits, system notes, our own notes, bots, commits and snippets are ignored.
 */
export function normalizeGitLabEvent(hook: string, payload: unknown, context: GitLabNormalizeContext): NormalizeResult {
  if (!(HANDLED_EVENTS as readonly string[]).includes(hook)) return { kind: "ignored", reason: "unhandled_event" };
  const raw = (payload as { object_attributes?: { action?: unknown; system?: unknown; noteable_type?: unknown } } | null)?.object_attributes;
  if (raw?.action === "update") return { kind: "ignored", reason: "edited" };
  if (raw?.action !== undefined && raw.action !== null && raw.action !== "create") return { kind: "ignored", reason: "unhandled_event" };
  if (raw?.system === true) return { kind: "ignored", reason: "system_note" };
  if (raw?.noteable_type !== "MergeRequest" && raw?.noteable_type !== "Issue") return { kind: "ignored", reason: "unhandled_event" };

  const parsed = notePayload.safeParse(payload);
  if (!parsed.success) return { kind: "ignored", reason: "malformed" };
  const { user: author, project, object_attributes: note, merge_request: mr, issue } = parsed.data;
  const target = note.noteable_type === "MergeRequest" ? mr : issue;
  if (!target) return { kind: "ignored", reason: "malformed" };

  const selfNames = context.selfUsernames.map((n) => n.toLowerCase());
  const ids = [String(author.id), ...(note.author_id ? [String(note.author_id)] : [])];
  if ((context.selfUserId !== null && ids.includes(context.selfUserId)) || selfNames.includes(author.username.toLowerCase())) {
    return { kind: "ignored", reason: "self" };
  }
  if (isBotUsername(author.username)) return { kind: "ignored", reason: "bot_sender" };

  // A confidential hook for a note that is not on a confidential issue can only be an internal
  // note: answer internally then too, even if an older GitLab left the note's flag out.
  const confidentialHook = hook === "Confidential Note Hook" && issue?.confidential !== true;
  const visibility = gitlabVisibility(project);
  const thread: ThreadRef = {
    forge: "gitlab",
    host: context.host,
    repoId: String(project.id),
    repoPath: project.path_with_namespace,
    kind: note.noteable_type === "MergeRequest" ? "change_request" : "issue",
    number: target.iid,
    ...(note.discussion_id ? { replyTo: { type: "discussion" as const, discussionId: note.discussion_id } } : {}),
    ...(note.internal === true || note.confidential === true || confidentialHook ? { internal: true } : {}),
    ...(visibility ? { visibility } : {}),
  };
  const hookKind = hook === "Confidential Note Hook" ? "confidential_note" : "note";
  const event: MentionEvent = {
    forge: "gitlab",
    deliveryKey: context.idempotencyKey ?? `note-${project.id}-${note.id}`,
    triggerKey: `note-${context.host}-${note.id}`,
    triggerCommentId: String(note.id),
    eventName: `${hookKind}.${note.noteable_type === "MergeRequest" ? "merge_request" : "issue"}`,
    thread,
    actor: { id: String(author.id), login: author.username },
    body: note.note ?? "",
    title: target.title,
    url: note.url ?? undefined,
    createdAt: isoDate(note.created_at),
  };
  return { kind: "mention", event };
}
