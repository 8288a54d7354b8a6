import { z } from "zod";
import type { MentionEvent, NormalizeResult, RepoVisibility, ThreadRef } from "../../sessions/forge-port.js";

/** Only the fields we read. Anything else in GitHub's payloads never leaves this file. */
const user = z.object({ id: z.number(), login: z.string(), type: z.string().optional() });
const repository = z.object({ id: z.number(), full_name: z.string(), private: z.boolean().nullish(), visibility: z.string().nullish() });
const installation = z.object({ id: z.number() }).nullish();

const issueComment = z.object({
  action: z.string(),
  issue: z.object({ number: z.number(), title: z.string(), html_url: z.string().optional(), pull_request: z.unknown().optional() }),
  comment: z.object({ id: z.number(), body: z.string().nullish(), user, created_at: z.string(), html_url: z.string().optional() }),
  repository,
  installation,
  sender: user,
});

const reviewComment = z.object({
  action: z.string(),
  pull_request: z.object({ number: z.number(), title: z.string(), html_url: z.string().optional() }),
  comment: z.object({
    id: z.number(),
    body: z.string().nullish(),
    in_reply_to_id: z.number().nullish(),
    user,
    created_at: z.string(),
    html_url: z.string().optional(),
  }),
  repository,
  installation,
  sender: user,
});

const review = z.object({
  action: z.string(),
  pull_request: z.object({ number: z.number(), title: z.string(), html_url: z.string().optional() }),
  review: z.object({ id: z.number(), body: z.string().nullish(), user, submitted_at: z.string().nullish(), html_url: z.string().optional() }),
  repository,
  installation,
  sender: user,
});

export const HANDLED_EVENTS = ["issue_comment", "pull_request_review_comment", "pull_request_review"] as const;
const CREATED_ACTION: Record<(typeof HANDLED_EVENTS)[number], string> = {
  issue_comment: "created",
  pull_request_review_comment: "created",
  pull_request_review: "submitted",
};

type Common = { host: string; deliveryKey: string; selfLogins: readonly string[] };

function isBot(u: z.infer<typeof user>): boolean {
  return u.type === "Bot" || u.login.endsWith("[bot]");
}

/** `repository.visibility` (public, private, internal) where GitHub sends it, else `private`; neither leaves it unknown. */
export function githubVisibility(repo: { private?: boolean | null | undefined; visibility?: string | null | undefined }): RepoVisibility | undefined {
  const named = repo.visibility?.toLowerCase();
  if (named === "public" || named === "private" || named === "internal") return named;
  if (typeof repo.private === "boolean") return repo.private ? "private" : "public";
  return undefined;
}

function thread(host: string, repo: z.infer<typeof repository>, installationId: number | undefined, kind: ThreadRef["kind"], number: number): ThreadRef {
  const visibility = githubVisibility(repo);
  return { forge: "github", host, repoId: String(repo.id), repoPath: repo.full_name, installationId, kind, number, ...(visibility ? { visibility } : {}) };
}

function senderCheck(common: Common, sender: z.infer<typeof user>, author: z.infer<typeof user>): NormalizeResult | null {
  const self = common.selfLogins.map((l) => l.toLowerCase());
  if (self.includes(author.login.toLowerCase()) || self.includes(sender.login.toLowerCase())) return { kind: "ignored", reason: "self" };
  if (isBot(sender) || isBot(author)) return { kind: "ignored", reason: "bot_sender" };
  return null;
}

/**
 * Turns a GitHub webhook into a MentionEvent candidate (mention detection happens later, in
 * the forge-neutral intake). Edits, deletions and other actions are ignored.
 */
export function normalizeGitHubEvent(name: string, payload: unknown, common: Common): NormalizeResult {
  if (!(HANDLED_EVENTS as readonly string[]).includes(name)) return { kind: "ignored", reason: "unhandled_event" };
  const action = (payload as { action?: unknown } | null)?.action;
  if (action !== CREATED_ACTION[name as (typeof HANDLED_EVENTS)[number]]) {
    return { kind: "ignored", reason: action === "edited" ? "edited" : "unhandled_event" };
  }
  const base = { forge: "github" as const, deliveryKey: common.deliveryKey, eventName: `${name}.${String(action)}` };

  if (name === "issue_comment") {
    const p = issueComment.safeParse(payload);
    if (!p.success) return { kind: "ignored", reason: "malformed" };
    const { issue, comment, repository: repo } = p.data;
    const skip = senderCheck(common, p.data.sender, comment.user);
    if (skip) return skip;
    const event: MentionEvent = {
      ...base,
      triggerKey: `issue_comment-${comment.id}`,
      triggerCommentId: String(comment.id),
      thread: thread(common.host, repo, p.data.installation?.id, issue.pull_request ? "change_request" : "issue", issue.number),
      actor: { id: String(comment.user.id), login: comment.user.login },
      body: comment.body ?? "",
      title: issue.title,
      url: comment.html_url ?? issue.html_url,
      createdAt: comment.created_at,
    };
    return { kind: "mention", event };
  }

  if (name === "pull_request_review_comment") {
    const p = reviewComment.safeParse(payload);
    if (!p.success) return { kind: "ignored", reason: "malformed" };
    const { pull_request: pr, comment, repository: repo } = p.data;
    const skip = senderCheck(common, p.data.sender, comment.user);
    if (skip) return skip;
    const t = thread(common.host, repo, p.data.installation?.id, "change_request", pr.number);
    // GitHub refuses replies to replies: answer on the thread's top-level comment.
    t.replyTo = { type: "review_thread", rootCommentId: String(comment.in_reply_to_id ?? comment.id) };
    const event: MentionEvent = {
      ...base,
      triggerKey: `review_comment-${comment.id}`,
      triggerCommentId: String(comment.id),
      thread: t,
      actor: { id: String(comment.user.id), login: comment.user.login },
      body: comment.body ?? "",
      title: pr.title,
      url: comment.html_url ?? pr.html_url,
      createdAt: comment.created_at,
    };
    return { kind: "mention", event };
  }

  const p = review.safeParse(payload);
  if (!p.success) return { kind: "ignored", reason: "malformed" };
  const { pull_request: pr, review: r, repository: repo } = p.data;
  const skip = senderCheck(common, p.data.sender, r.user);
  if (skip) return skip;
  const event: MentionEvent = {
    ...base,
    triggerKey: `review-${r.id}`,
    triggerCommentId: String(r.id),
    thread: thread(common.host, repo, p.data.installation?.id, "change_request", pr.number),
    actor: { id: String(r.user.id), login: r.user.login },
    body: r.body ?? "",
    title: pr.title,
    url: r.html_url ?? pr.html_url,
    createdAt: r.submitted_at ?? new Date().toISOString(),
  };
  return { kind: "mention", event };
}
