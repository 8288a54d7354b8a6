import type { ProbotOctokit } from "probot";
import { ForgeApiError, type FileEntry, type ForgeClient, type ThreadComment, type ThreadContent, type ThreadRef } from "../../sessions/forge-port.js";
import { truncate } from "../../sessions/text.js";
import { call, repoParts } from "./api.js";

type Octokit = ProbotOctokit;

/** Bounds on what one read fetches; the agent's tools bound what the model sees further. */
export const GITHUB_READ_LIMITS = {
  /** The newest comments kept (GitHub lists oldest first, so up to `pages` pages are read). */
  comments: 200,
  pages: 30,
  diffChars: 200_000,
} as const;

type ApiComment = { id: number; body?: string | null; user?: { login: string } | null; created_at: string; updated_at: string };
type ApiReviewComment = ApiComment & { path?: string; line?: number | null; original_line?: number | null };
type ApiFile = { filename: string; status: string; patch?: string; previous_filename?: string };

/** Reads every page up to the limit (Octokit's iterator follows the Link header). */
export async function pages<T>(iterator: AsyncIterable<{ data: T[] }>, maxPages: number = GITHUB_READ_LIMITS.pages): Promise<T[]> {
  const items: T[] = [];
  let read = 0;
  for await (const page of iterator) {
    items.push(...page.data);
    if (++read >= maxPages) break;
  }
  return items;
}

function toComment(c: ApiComment, prefix = ""): ThreadComment {
  return { id: String(c.id), author: c.user?.login ?? "ghost", body: `${prefix}${c.body ?? ""}`, createdAt: c.created_at, updatedAt: c.updated_at };
}

function reviewLocation(c: ApiReviewComment): string {
  if (!c.path) return "";
  const line = c.line ?? c.original_line;
  return ` on ${c.path}${line ? `:${line}` : ""}`;
}

function formatFile(f: ApiFile): string {
  const from = f.previous_filename ?? f.filename;
  const lines = [`diff --git a/${from} b/${f.filename}`];
  if (f.status === "added") lines.push("new file");
  if (f.status === "removed") lines.push("deleted file");
  if (f.status === "renamed") lines.push(`rename from ${from}`, `rename to ${f.filename}`);
  lines.push(`--- ${f.status === "added" ? "/dev/null" : `a/${from}`}`, `+++ ${f.status === "removed" ? "/dev/null" : `b/${f.filename}`}`);
  lines.push(f.patch ?? "[no textual diff: binary or too large for GitHub to show]");
  return lines.join("\n");
}

/**
 * The agent's read-only view of a GitHub thread and its repository (ForgeClient's optional
 * reads). Files default to the pull request's head commit when the caller passes no ref.
 */
export function createGitHubReads(octokit: Octokit): Required<Pick<ForgeClient, "getThread" | "getDiff" | "readFile" | "listDirectory">> {
  async function getContent(thread: ThreadRef, path: string, ref: string | undefined) {
    const { data } = await call("read contents", () => octokit.rest.repos.getContent({ ...repoParts(thread), path, ...(ref ? { ref } : {}) }));
    return data;
  }

  return {
    async getThread(thread: ThreadRef): Promise<ThreadContent> {
      const { owner, repo } = repoParts(thread);
      const number = thread.number;
      const comments = (
        await call("list comments", () => pages<ApiComment>(octokit.paginate.iterator(octokit.rest.issues.listComments, { owner, repo, issue_number: number, per_page: 100 })))
      ).map((c) => toComment(c));
      if (thread.kind === "issue") {
        const { data } = await call("read issue", () => octokit.rest.issues.get({ owner, repo, issue_number: number }));
        const newest = comments.slice(-GITHUB_READ_LIMITS.comments);
        return { title: data.title, body: data.body ?? "", author: data.user?.login ?? "ghost", url: data.html_url, comments: newest };
      }
      const { data } = await call("read pull request", () => octokit.rest.pulls.get({ owner, repo, pull_number: number }));
      const review = await call("list review comments", () =>
        pages<ApiReviewComment>(octokit.paginate.iterator(octokit.rest.pulls.listReviewComments, { owner, repo, pull_number: number, per_page: 100 })),
      );
      for (const c of review) comments.push(toComment(c, `(review comment${reviewLocation(c)})\n`));
      comments.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      return {
        title: data.title,
        body: data.body ?? "",
        author: data.user?.login ?? "ghost",
        url: data.html_url,
        comments: comments.slice(-GITHUB_READ_LIMITS.comments),
        headRef: data.head.sha,
      };
    },

    async getDiff(thread: ThreadRef): Promise<string> {
      if (thread.kind !== "change_request") throw new ForgeApiError("only pull requests have a diff", 400);
      const { owner, repo } = repoParts(thread);
      // The files API is JSON (the diff media type is not) and pages through up to 3,000 files.
      const files = await call("list pull request files", () =>
        pages<ApiFile>(octokit.paginate.iterator(octokit.rest.pulls.listFiles, { owner, repo, pull_number: thread.number, per_page: 100 })),
      );
      return truncate(files.map(formatFile).join("\n"), GITHUB_READ_LIMITS.diffChars);
    },

    async readFile(thread: ThreadRef, filePath: string, ref?: string): Promise<string> {
      const data = await getContent(thread, filePath.replace(/^\/+/, ""), ref);
      if (Array.isArray(data)) throw new ForgeApiError(`${filePath} is a directory`, 400);
      if (data.type !== "file") throw new ForgeApiError(`${filePath} is a ${data.type}, not a file`, 400);
      if ("content" in data && data.content && data.encoding === "base64") return Buffer.from(data.content, "base64").toString("utf8");
      // Files over 1 MB come without content: read the blob instead.
      const { data: blob } = await call("read blob", () => octokit.rest.git.getBlob({ ...repoParts(thread), file_sha: data.sha }));
      return Buffer.from(blob.content, blob.encoding === "base64" ? "base64" : "utf8").toString("utf8");
    },

    async listDirectory(thread: ThreadRef, dirPath: string, ref?: string): Promise<FileEntry[]> {
      const data = await getContent(thread, dirPath.replace(/^\/+|\/+$/g, ""), ref);
      if (!Array.isArray(data)) throw new ForgeApiError(`${dirPath} is not a directory`, 400);
      return data.map((e) => ({ name: e.name, path: e.path, type: e.type === "dir" ? "dir" : "file" }));
    },
  };
}
