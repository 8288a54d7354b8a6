import { createHash } from "node:crypto";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../sessions/forge-port.js";
import type { Change, ChangeFile, ChangeRefs, ChangeSince, DiffLineRef, PostedReview, RefusedComment, ReviewComment, ReviewDraft } from "../../sessions/review-port.js";
import { markerKind } from "../../sessions/notes.js";
import { codeFence } from "../../sessions/text.js";
import { call, type ApiNote, type GitLabApi } from "./api.js";

const PAGE = 100;
/** Merge requests of more files than this are listed up to it (GitLab's own diff limits are lower). */
const MAX_DIFF_PAGES = 30;
const MAX_COMMIT_PAGES = 20;
/** How far back the notes are searched for a published review. */
const MAX_NOTE_PAGES = 20;
const HEAD_READS = 3;

type ApiMergeRequest = { web_url?: string; sha?: string | null; diff_refs?: { base_sha: string; start_sha: string; head_sha: string } | null };
type ApiDiff = {
  old_path: string;
  new_path: string;
  diff: string;
  new_file?: boolean;
  deleted_file?: boolean;
  renamed_file?: boolean;
  too_large?: boolean | null;
  collapsed?: boolean | null;
  generated_file?: boolean | null;
};
type ApiDraftNote = { id: number; note: string };

function toChangeFile(d: ApiDiff): ChangeFile {
  const status = d.new_file ? "added" : d.deleted_file ? "removed" : d.renamed_file ? "renamed" : "modified";
  const base = { path: d.new_path, oldPath: d.old_path, status, ...(d.generated_file ? { generated: true } : {}) } as const;
  if (/^Binary files /.test(d.diff ?? "")) return { ...base, patch: null, omitted: "binary" };
  if (!d.diff && (d.too_large || d.collapsed)) return { ...base, patch: null, omitted: "too_large" };
  return { ...base, patch: d.diff ?? "" };
}

/** GitLab's line code: `<sha1 of the file path>_<old line counter>_<new line counter>`. */
export function lineCode(path: string, line: DiffLineRef): string {
  return `${createHash("sha1").update(path).digest("hex")}_${line.oldPos}_${line.newPos}`;
}

/** A ```` ```suggestion:-A+0 ```` block anchored on the range's last line, reaching A lines above it. */
export function gitlabSuggestion(lines: readonly string[], above: number): string {
  const text = lines.join("\n");
  const fence = codeFence(text);
  return lines.length ? `${fence}suggestion:-${above}+0\n${text}\n${fence}` : `${fence}suggestion:-${above}+0\n${fence}`;
}

/**
 * A draft note's `position`: the diff's three SHAs, both paths, the last line of the range
 * (`new_line` for an added line, `old_line` for a removed one, both for context) and, for a
 * range, `line_range` with the line code and type of its first and last line.
 */
export function draftPosition(c: ReviewComment, refs: ChangeRefs) {
  const single = c.start.oldPos === c.end.oldPos && c.start.newPos === c.end.newPos && c.start.kind === c.end.kind;
  const point = (line: DiffLineRef) => ({ line_code: lineCode(c.path, line), type: line.kind === "added" ? "new" : "old" });
  return {
    base_sha: refs.baseSha,
    start_sha: refs.startSha,
    head_sha: refs.headSha,
    position_type: "text",
    old_path: c.oldPath,
    new_path: c.path,
    ...(c.end.newLine !== null ? { new_line: c.end.newLine } : {}),
    ...(c.end.oldLine !== null ? { old_line: c.end.oldLine } : {}),
    ...(single ? {} : { line_range: { start: point(c.start), end: point(c.end) } }),
  };
}

function draftBody(c: ReviewComment): string {
  const above = (c.end.newLine ?? 0) - (c.start.newLine ?? 0);
  return [c.body, c.suggestion ? gitlabSuggestion(c.suggestion, above) : null, c.marker].filter(Boolean).join("\n\n");
}

/**
 * Reviews on GitLab: the merge request's diffs with its `diff_refs`, and a review as draft notes
 * (one per comment, positioned on the diff, plus the summary) published in one
 * `POST …/draft_notes/bulk_publish`, so the merge request gets one review and one notification.
 */
export function createGitLabReview(
  api: GitLabApi,
  projectId: string,
  selfUserId: string,
): Required<Pick<ForgeClient, "getChangeRefs" | "getChange" | "getChangeSince" | "postReview" | "findReview">> {
  const show = (thread: ThreadRef) => call<ApiMergeRequest>("read merge request", () => api.mergeRequests.show(projectId, thread.number));

  async function getChangeRefs(thread: ThreadRef): Promise<ChangeRefs> {
    const mr = await show(thread);
    // GitLab fills diff_refs once it has computed the merge request's diff.
    if (!mr.diff_refs) throw new ForgeApiError("GitLab has not computed the merge request's diff yet", 409);
    return { baseSha: mr.diff_refs.base_sha, startSha: mr.diff_refs.start_sha, headSha: mr.diff_refs.head_sha };
  }

  async function listDiffs(thread: ThreadRef): Promise<{ diffs: ApiDiff[]; truncated: boolean }> {
    const diffs: ApiDiff[] = [];
    for (let page = 1; page <= MAX_DIFF_PAGES; page += 1) {
      const batch = await call<ApiDiff[]>("read diff", () => api.mergeRequests.allDiffs(projectId, thread.number, { page, perPage: PAGE }));
      diffs.push(...batch);
      if (batch.length < PAGE) return { diffs, truncated: false };
    }
    return { diffs, truncated: true };
  }

  /** Our published review: the summary note holding `draft.marker`, and the inline notes holding theirs. */
  async function findPublished(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview | null> {
    const notes: ApiNote[] = [];
    let summary: ApiNote | undefined;
    for (let page = 1; page <= MAX_NOTE_PAGES; page += 1) {
      const batch = await call<ApiNote[]>("list notes", () => api.mergeRequestNotes.all(projectId, thread.number, { sort: "desc", orderBy: "created_at", page, perPage: PAGE }));
      // Only the bot user's notes count: a human pasting a marker must not fool us.
      notes.push(...batch.filter((n) => String(n.author?.id) === selfUserId));
      summary ??= notes.find((n) => n.body.includes(draft.marker));
      const oldest = batch[batch.length - 1];
      const pastSummary = summary && oldest && Date.parse(oldest.created_at) < Date.parse(summary.created_at) - 60_000;
      if (batch.length < PAGE || pastSummary) break;
    }
    if (!summary) return null;
    const url = (await show(thread)).web_url;
    const link = (id: number) => (url ? `${url}#note_${id}` : null);
    const comments = draft.comments.flatMap((c, index) => {
      const found = notes.find((n) => n.body.includes(c.marker));
      return found ? [{ index, id: String(found.id), url: link(found.id) }] : [];
    });
    const refused = draft.comments.flatMap((_, index) => (comments.some((c) => c.index === index) ? [] : [{ index, reason: "not among the review's notes" }]));
    return { id: String(summary.id), url: link(summary.id), comments, refused };
  }

  return {
    getChangeRefs,

    async getChange(thread: ThreadRef): Promise<Change> {
      for (let attempt = 1; attempt <= HEAD_READS; attempt++) {
        const before = await getChangeRefs(thread);
        const { diffs, truncated } = await listDiffs(thread);
        const after = await getChangeRefs(thread);
        // The diffs endpoint serves the latest version: only a list read between equal refs is that version's.
        if (after.headSha === before.headSha && after.startSha === before.startSha) return { refs: after, files: diffs.map(toChangeFile), truncated };
      }
      throw new ForgeApiError("the merge request's head kept moving while its diffs were read", 409);
    },

    async getChangeSince(thread: ThreadRef, fromSha: string, toSha: string): Promise<ChangeSince> {
      const commits: { id: string }[] = [];
      for (let page = 1; page <= MAX_COMMIT_PAGES; page += 1) {
        const batch = await call<{ id: string }[]>("list merge request commits", () => api.mergeRequests.allCommits(projectId, thread.number, { page, perPage: PAGE }));
        commits.push(...batch);
        if (batch.length < PAGE) break;
      }
      // Still one of the merge request's commits: the branch only grew since then.
      if (!commits.some((c) => c.id === fromSha)) return { kind: "unavailable", reason: "rewritten" };
      const compared = await call<{ diffs?: ApiDiff[]; compare_timeout?: boolean }>("compare", () =>
        api.repositories.compare(projectId, fromSha, toSha, { straight: true }),
      );
      if (compared.compare_timeout) return { kind: "unavailable", reason: "too_large" };
      return { kind: "linear", files: (compared.diffs ?? []).map(toChangeFile) };
    },

    async postReview(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview> {
      const iid = thread.number;
      // Drafts of an interrupted attempt (ours or another review's) are replaced, never published twice.
      const pending = await call<ApiDraftNote[]>("list draft notes", () => api.draftNotes.all(projectId, iid, { page: 1, perPage: PAGE }));
      for (const stale of pending.filter((d) => markerKind(d.note) === "review")) {
        await call("delete draft note", () => api.draftNotes.remove(projectId, iid, stale.id));
      }
      const refused: RefusedComment[] = [];
      for (const [index, comment] of draft.comments.entries()) {
        try {
          await call("create draft note", () => api.draftNotes.create(projectId, iid, draftBody(comment), { position: draftPosition(comment, draft.refs) as never }));
        } catch (err: unknown) {
          // GitLab refuses a position it cannot place (400, or 422 on some versions): that comment goes to the summary.
          if (!(err instanceof ForgeApiError) || (err.status !== 400 && err.status !== 422)) throw err;
          refused.push({ index, reason: `GitLab refused its position (${err.status})` });
        }
      }
      await call("create draft note", () => api.draftNotes.create(projectId, iid, draft.summary(refused)));
      await call("publish review", () => api.draftNotes.publishBulk(projectId, iid));
      const posted = await findPublished(thread, draft);
      if (!posted) throw new ForgeApiError("GitLab published the review, but its summary note was not found", 502);
      const missing = posted.refused.filter((m) => !refused.some((r) => r.index === m.index));
      return { ...posted, refused: [...refused, ...missing].sort((a, b) => a.index - b.index) };
    },

    findReview: findPublished,
  };
}
