import type { ProbotOctokit } from "probot";
import { ForgeApiError, type Actor, type ForgeClient, type NoteRef, type ThreadRef } from "../forge.js";
import { createGitHubReads } from "./reads.js";

type Octokit = ProbotOctokit;

function repoParts(thread: ThreadRef): { owner: string; repo: string } {
  const [owner, ...rest] = thread.repoPath.split("/");
  return { owner: owner ?? "", repo: rest.join("/") };
}

type ErrorShape = { status?: unknown; message?: unknown; response?: { headers?: Record<string, string | undefined> } };

/**
 * How long GitHub asked us to wait: `retry-after` (seconds), else a primary limit's
 * `x-ratelimit-reset` once `x-ratelimit-remaining` hit 0, else a minute for a secondary limit.
 */
export function githubRetryAfterMs(err: ErrorShape, now = Date.now()): number | undefined {
  const headers = err.response?.headers ?? {};
  const retryAfter = Number(headers["retry-after"]);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return retryAfter * 1000;
  if (headers["x-ratelimit-remaining"] === "0" && headers["x-ratelimit-reset"]) {
    return Math.max(1000, Number(headers["x-ratelimit-reset"]) * 1000 - now);
  }
  if (err.status === 429 || (err.status === 403 && /secondary rate limit/i.test(String(err.message ?? "")))) return 60_000;
  return undefined;
}

/** Wraps Octokit's RequestError (or a network error) into a ForgeApiError carrying the status. */
export async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err: unknown) {
    const shape = err as ErrorShape;
    const status = typeof shape.status === "number" ? shape.status : undefined;
    const retryAfterMs = status === 429 || status === 403 ? githubRetryAfterMs(shape) : undefined;
    throw new ForgeApiError(`GitHub ${what} failed${status ? ` (${status})` : ""}`, status, { cause: err, retryAfterMs });
  }
}

/** Our notes are posted by the app itself; a human pasting a marker must not fool us. */
function ours(comment: { body?: string | null; user?: { type?: string } | null }, marker: string): boolean {
  return Boolean(comment.body?.includes(marker)) && comment.user?.type === "Bot";
}

/** The GitHub ForgeClient for one repository, over Probot's installation-authenticated Octokit. */
export function createGitHubClient(octokit: Octokit, bound: ThreadRef, allowedRoles: readonly string[]): ForgeClient {
  return {
    ...createGitHubReads(octokit),
    async canUseBot(actor: Actor) {
      try {
        const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ ...repoParts(bound), username: actor.login });
        // role_name is precise (maintain, triage, custom roles); permission is the base level.
        return allowedRoles.includes((data.role_name ?? "").toLowerCase()) || allowedRoles.includes(data.permission);
      } catch (err: unknown) {
        if ((err as { status?: number }).status === 404) return false;
        throw new ForgeApiError("GitHub permission check failed", (err as { status?: number }).status, { cause: err });
      }
    },

    async postNote(thread: ThreadRef, body: string): Promise<NoteRef> {
      const { owner, repo } = repoParts(thread);
      if (thread.replyTo?.type === "review_thread") {
        const comment_id = Number(thread.replyTo.rootCommentId);
        const { data } = await call("review reply", () =>
          octokit.rest.pulls.createReplyForReviewComment({ owner, repo, pull_number: thread.number, comment_id, body }),
        );
        return { id: String(data.id), type: "review_comment" };
      }
      const { data } = await call("comment", () => octokit.rest.issues.createComment({ owner, repo, issue_number: thread.number, body }));
      return { id: String(data.id), type: "issue_comment" };
    },

    async findNoteByMarker(thread: ThreadRef, marker: string, since?: Date): Promise<NoteRef | null> {
      const { owner, repo } = repoParts(thread);
      const sinceIso = since ? new Date(since.getTime() - 60_000).toISOString() : undefined;
      if (thread.replyTo?.type === "review_thread") {
        const comments = await call("list review comments", () =>
          octokit.paginate(octokit.rest.pulls.listReviewComments, { owner, repo, pull_number: thread.number, per_page: 100, ...(sinceIso ? { since: sinceIso } : {}) }),
        );
        const found = comments.find((c) => ours(c, marker));
        return found ? { id: String(found.id), type: "review_comment" } : null;
      }
      const comments = await call("list comments", () =>
        octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: thread.number, per_page: 100, ...(sinceIso ? { since: sinceIso } : {}) }),
      );
      const found = comments.find((c) => ours(c, marker));
      return found ? { id: String(found.id), type: "issue_comment" } : null;
    },

    async deleteNote(thread: ThreadRef, note: NoteRef): Promise<void> {
      const { owner, repo } = repoParts(thread);
      const comment_id = Number(note.id);
      if (note.type === "review_comment") {
        await call("delete review comment", () => octokit.rest.pulls.deleteReviewComment({ owner, repo, comment_id }));
        return;
      }
      await call("delete comment", () => octokit.rest.issues.deleteComment({ owner, repo, comment_id }));
    },
  };
}
