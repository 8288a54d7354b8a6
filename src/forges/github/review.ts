import type { ProbotOctokit } from "probot";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../sessions/forge-port.js";
import type { Change, ChangeFile, ChangeRefs, ChangeSince, DiffLineRef, PostedReview, RefusedComment, ReviewComment, ReviewDraft } from "../../sessions/review-port.js";
import { codeFence } from "../../sessions/text.js";
import { call, repoParts } from "./api.js";
import { pages } from "./reads.js";

type Octokit = ProbotOctokit;

/** GitHub lists at most 3,000 files of a pull request (30 pages of 100). */
const MAX_FILE_PAGES = 30;
/** The compare endpoint lists at most 300 files. */
const COMPARE_FILE_LIMIT = 300;
/** Reads of the file list taken again when the head moved while it was listed. */
const HEAD_READS = 3;

type ApiFile = { filename: string; status: string; patch?: string; previous_filename?: string; changes?: number };
type ApiReviewComment = { id: number; body: string; html_url: string };

function toChangeFile(f: ApiFile): ChangeFile {
  const status = f.status === "added" || f.status === "removed" || f.status === "renamed" ? f.status : "modified";
  const base = { path: f.filename, oldPath: f.previous_filename ?? f.filename, status } as const;
  if (f.patch !== undefined) return { ...base, patch: f.patch };
  // GitHub leaves `patch` out for binary files and for diffs too large to show; only the latter count changes.
  if ((f.changes ?? 0) > 0) return { ...base, patch: null, omitted: "too_large" };
  return status === "renamed" ? { ...base, patch: "" } : { ...base, patch: null, omitted: "binary" };
}

const sideOf = (line: DiffLineRef) => (line.kind === "removed" ? "LEFT" : "RIGHT");
const numberOf = (line: DiffLineRef) => (line.kind === "removed" ? line.oldLine : line.newLine) ?? 0;

/** A ```` ```suggestion ```` block: GitHub replaces the commented lines with its content. */
export function githubSuggestion(lines: readonly string[]): string {
  const text = lines.join("\n");
  const fence = codeFence(text);
  return lines.length ? `${fence}suggestion\n${text}\n${fence}` : `${fence}suggestion\n${fence}`;
}

/** One entry of `comments[]`: `path, body, line, side` and, for a range, `start_line, start_side`. */
function toApiComment(c: ReviewComment) {
  const body = [c.body, c.suggestion ? githubSuggestion(c.suggestion) : null, c.marker].filter(Boolean).join("\n\n");
  const single = c.start.oldPos === c.end.oldPos && c.start.newPos === c.end.newPos && c.start.kind === c.end.kind;
  return {
    path: c.path,
    body,
    line: numberOf(c.end),
    side: sideOf(c.end),
    ...(single ? {} : { start_line: numberOf(c.start), start_side: sideOf(c.start) }),
  };
}

/** What GitHub said about a refused request, shortened. */
function refusal(err: ForgeApiError): string {
  const said = (err.cause as { message?: unknown } | undefined)?.message;
  return `GitHub refused the inline comments (${err.status}${typeof said === "string" && said ? `: ${said.slice(0, 160)}` : ""})`;
}

/**
 * Reviews on GitHub: reads through the pulls and compare endpoints, and one
 * `POST /repos/{owner}/{repo}/pulls/{n}/reviews` with `event: "COMMENT"` per review.
 */
export function createGitHubReview(octokit: Octokit): Required<Pick<ForgeClient, "getChangeRefs" | "getChange" | "getChangeSince" | "postReview" | "findReview">> {
  async function getChangeRefs(thread: ThreadRef): Promise<ChangeRefs> {
    const { data } = await call("read pull request", () => octokit.rest.pulls.get({ ...repoParts(thread), pull_number: thread.number }));
    return { baseSha: data.base.sha, startSha: data.base.sha, headSha: data.head.sha };
  }

  async function commentsOf(thread: ThreadRef, reviewId: number, draft: ReviewDraft): Promise<PostedReview["comments"]> {
    const posted = await call("list review comments", () =>
      pages<ApiReviewComment>(
        octokit.paginate.iterator(octokit.rest.pulls.listCommentsForReview, { ...repoParts(thread), pull_number: thread.number, review_id: reviewId, per_page: 100 }),
      ),
    );
    return draft.comments.flatMap((c, index) => {
      const found = posted.find((p) => p.body.includes(c.marker));
      return found ? [{ index, id: String(found.id), url: found.html_url }] : [];
    });
  }

  async function create(thread: ThreadRef, fields: { body: string; commit_id?: string; comments?: ReturnType<typeof toApiComment>[] }) {
    const { data } = await call("create review", () =>
      octokit.rest.pulls.createReview({
        ...repoParts(thread),
        pull_number: thread.number,
        event: "COMMENT",
        ...fields,
        // Never retried blindly: a review whose answer was lost is found by its marker instead.
        request: { retries: 0 },
      }),
    );
    return data;
  }

  return {
    getChangeRefs,

    async getChange(thread: ThreadRef): Promise<Change> {
      for (let attempt = 1; attempt <= HEAD_READS; attempt++) {
        const before = await getChangeRefs(thread);
        const files = await call("list pull request files", () =>
          pages<ApiFile>(octokit.paginate.iterator(octokit.rest.pulls.listFiles, { ...repoParts(thread), pull_number: thread.number, per_page: 100 }), MAX_FILE_PAGES),
        );
        const after = await getChangeRefs(thread);
        // The files endpoint lists the current head: only a list read between two equal heads is that head's.
        if (after.headSha === before.headSha) return { refs: after, files: files.map(toChangeFile), truncated: files.length >= MAX_FILE_PAGES * 100 };
      }
      throw new ForgeApiError("the pull request's head kept moving while its files were read", 409);
    },

    async getChangeSince(thread: ThreadRef, fromSha: string, toSha: string): Promise<ChangeSince> {
      try {
        const { data } = await call("compare commits", () =>
          octokit.rest.repos.compareCommitsWithBasehead({ ...repoParts(thread), basehead: `${fromSha}...${toSha}`, per_page: 1 }),
        );
        if (data.status !== "ahead" && data.status !== "identical") return { kind: "unavailable", reason: "rewritten" };
        const files = (data.files ?? []) as ApiFile[];
        if (files.length >= COMPARE_FILE_LIMIT) return { kind: "unavailable", reason: "too_large" };
        return { kind: "linear", files: files.map(toChangeFile) };
      } catch (err: unknown) {
        if (err instanceof ForgeApiError && (err.status === 404 || err.status === 422)) return { kind: "unavailable", reason: "unknown_commit" };
        throw err;
      }
    },

    async postReview(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview> {
      const comments = draft.comments.map(toApiComment);
      try {
        const review = await create(thread, { body: draft.summary([]), commit_id: draft.refs.headSha, comments });
        return { id: String(review.id), url: review.html_url, comments: await commentsOf(thread, review.id, draft), refused: [] };
      } catch (err: unknown) {
        if (!(err instanceof ForgeApiError) || err.status !== 422 || comments.length === 0) throw err;
        // One position GitHub cannot place (or a head force-pushed away) fails the whole review:
        // post the summary alone, every comment listed in it, on the pull request's latest commit.
        const refused: RefusedComment[] = draft.comments.map((_, index) => ({ index, reason: refusal(err) }));
        const review = await create(thread, { body: draft.summary(refused) });
        return { id: String(review.id), url: review.html_url, comments: [], refused };
      }
    },

    async findReview(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview | null> {
      const reviews = await call("list reviews", () =>
        pages<{ id: number; body: string | null; html_url: string; user: { type?: string } | null }>(
          octokit.paginate.iterator(octokit.rest.pulls.listReviews, { ...repoParts(thread), pull_number: thread.number, per_page: 100 }),
        ),
      );
      // Posted by the app itself: a human quoting the marker must not fool us.
      const found = reviews.find((r) => r.user?.type === "Bot" && Boolean(r.body?.includes(draft.marker)));
      if (!found) return null;
      const comments = await commentsOf(thread, found.id, draft);
      const refused = draft.comments.flatMap((_, index) => (comments.some((c) => c.index === index) ? [] : [{ index, reason: "not among the review's inline comments" }]));
      return { id: String(found.id), url: found.html_url, comments, refused };
    },
  };
}
