import type { ProbotOctokit } from "probot";
import { ForgeApiError, type Actor, type ForgeClient, type NoteRef, type RepoAccess, type RepoVisibility, type ThreadRef } from "../../sessions/forge-port.js";
import { call, repoParts } from "./api.js";
import { createGitHubArchive } from "./archive.js";
import { createGitHubPublisher } from "./publish.js";
import { createGitHubReads } from "./reads.js";
import { createGitHubReview } from "./review.js";

type Octokit = ProbotOctokit;

/** Our notes are posted by the app itself; a human pasting a marker must not fool us. */
function ours(comment: { body?: string | null; user?: { type?: string } | null }, marker: string): boolean {
  return Boolean(comment.body?.includes(marker)) && comment.user?.type === "Bot";
}

/** The GitHub ForgeClient for one repository, over Probot's installation-authenticated Octokit. */
export function createGitHubClient(octokit: Octokit, bound: ThreadRef, allowedRoles: readonly string[]): ForgeClient {
  /** The actor's permission (admin, write, read, none) and role; null when GitHub knows no such user here (404). */
  async function permissionOf(actor: Actor): Promise<{ permission: string; role: string } | null> {
    try {
      const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ ...repoParts(bound), username: actor.login });
      return { permission: data.permission, role: (data.role_name ?? "").toLowerCase() };
    } catch (err: unknown) {
      if ((err as { status?: number }).status === 404) return null;
      throw new ForgeApiError("GitHub permission check failed", (err as { status?: number }).status, { cause: err });
    }
  }
  // role_name is precise (maintain, triage, custom roles); permission is the base level.
  const mayWrite = (found: { permission: string; role: string } | null) => found !== null && (allowedRoles.includes(found.role) || allowedRoles.includes(found.permission));

  return {
    ...createGitHubReads(octokit),
    ...createGitHubReview(octokit),
    archive: createGitHubArchive(octokit),
    publish: createGitHubPublisher(octokit, bound.host),
    async canUseBot(actor: Actor) {
      return mayWrite(await permissionOf(actor));
    },

    async accessOf(actor: Actor, visibility: RepoVisibility): Promise<RepoAccess> {
      const found = await permissionOf(actor);
      // Internal repositories are read like private ones: by those GitHub gives at least read.
      const read = visibility === "public" || (found !== null && found.permission !== "none");
      return { read, write: mayWrite(found) };
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
