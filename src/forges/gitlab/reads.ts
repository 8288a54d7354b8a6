import type { FileEntry, ForgeClient, ThreadComment, ThreadContent, ThreadRef } from "../../sessions/forge-port.js";
import { truncate } from "../../sessions/text.js";
import { call, type ApiNote, type GitLabApi } from "./api.js";

/** Bounds on what one read hands the agent; anything cut says so in the text. */
export const READ_LIMITS = {
  comments: 200,
  commentChars: 20_000,
  bodyChars: 50_000,
  diffChars: 200_000,
  fileChars: 100_000,
  entries: 1_000,
} as const;

type ApiMergeRequest = { title: string; description: string | null; author?: { username: string } | null; web_url?: string; sha?: string | null; source_branch?: string };
type ApiIssue = { title: string; description: string | null; author?: { username: string } | null; web_url?: string };
type ApiDiff = { old_path: string; new_path: string; diff: string; new_file?: boolean; deleted_file?: boolean; renamed_file?: boolean; too_large?: boolean | null; collapsed?: boolean | null };
type ApiTreeEntry = { name: string; path: string; type: "tree" | "blob" | "commit" };

const PAGE = 100;
const MAX_NOTE_PAGES = 20;

function looksBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

function formatDiff(d: ApiDiff): string {
  const lines = [`diff --git a/${d.old_path} b/${d.new_path}`];
  if (d.new_file) lines.push("new file");
  if (d.deleted_file) lines.push("deleted file");
  if (d.renamed_file) lines.push(`rename from ${d.old_path}`, `rename to ${d.new_path}`);
  lines.push(`--- ${d.new_file ? "/dev/null" : `a/${d.old_path}`}`, `+++ ${d.deleted_file ? "/dev/null" : `b/${d.new_path}`}`);
  lines.push(d.diff ? d.diff.replace(/\n$/, "") : d.too_large || d.collapsed ? "[diff too large: not shown by GitLab]" : "[no textual changes]");
  return lines.join("\n");
}

/**
 * The agent's read-only view of a GitLab thread and its repository. Internal notes reach the
 * agent only in an internal thread: a public answer must never quote them.
 */
export function createReadTools(api: GitLabApi, projectId: string): Required<Pick<ForgeClient, "getThread" | "getDiff" | "readFile" | "listDirectory">> {
  let headSha: Promise<string> | null = null;
  function mergeRequest(thread: ThreadRef): Promise<ApiMergeRequest> {
    return call<ApiMergeRequest>("read merge request", () => api.mergeRequests.show(projectId, thread.number));
  }
  /** Files are read at the merge request's head commit (fork MRs too), else the default branch. */
  function defaultRef(thread: ThreadRef): Promise<string> {
    if (thread.kind !== "change_request") return Promise.resolve("HEAD");
    headSha ??= mergeRequest(thread).then((mr) => mr.sha ?? mr.source_branch ?? "HEAD");
    return headSha;
  }

  async function recentNotes(thread: ThreadRef): Promise<{ notes: ApiNote[]; more: boolean }> {
    const notesApi = thread.kind === "change_request" ? api.mergeRequestNotes : api.issueNotes;
    const notes: ApiNote[] = [];
    // Bounded in pages too: a thread of mostly internal notes must not be read to its end.
    for (let page = 1; page <= MAX_NOTE_PAGES; page += 1) {
      const batch = await call<ApiNote[]>("list notes", () => notesApi.all(projectId, thread.number, { sort: "desc", orderBy: "created_at", page, perPage: PAGE }));
      notes.push(...batch.filter((n) => thread.internal || !(n.internal || n.confidential)));
      if (batch.length < PAGE) return { notes: notes.slice(0, READ_LIMITS.comments).reverse(), more: notes.length > READ_LIMITS.comments };
      if (notes.length > READ_LIMITS.comments) break;
    }
    return { notes: notes.slice(0, READ_LIMITS.comments).reverse(), more: true };
  }

  return {
    async getThread(thread: ThreadRef): Promise<ThreadContent> {
      const head =
        thread.kind === "change_request"
          ? await mergeRequest(thread)
          : await call<ApiIssue>("read issue", () => api.issues.show(thread.number, { projectId }));
      const { notes, more } = await recentNotes(thread);
      const comments: ThreadComment[] = notes.map((n) => ({
        id: String(n.id),
        author: n.author?.username ?? "unknown",
        body: truncate(n.body, READ_LIMITS.commentChars),
        createdAt: n.created_at,
        updatedAt: n.updated_at ?? n.created_at,
        ...(n.system ? { system: true } : {}),
      }));
      if (more) {
        comments.unshift({ id: "truncated", author: "forgebot", body: `[earlier comments omitted: showing the latest ${READ_LIMITS.comments}]`, createdAt: "", updatedAt: "" });
      }
      const sha = thread.kind === "change_request" ? ((head as ApiMergeRequest).sha ?? (head as ApiMergeRequest).source_branch) : undefined;
      return {
        title: head.title,
        body: truncate(head.description ?? "", READ_LIMITS.bodyChars),
        author: head.author?.username ?? "unknown",
        url: head.web_url,
        comments,
        ...(sha ? { headRef: sha } : {}),
      };
    },

    async getDiff(thread: ThreadRef): Promise<string> {
      if (thread.kind !== "change_request") throw new Error("only merge requests have a diff");
      const parts: string[] = [];
      let size = 0;
      for (let page = 1; ; page += 1) {
        const diffs = await call<ApiDiff[]>("read diff", () => api.mergeRequests.allDiffs(projectId, thread.number, { page, perPage: PAGE }));
        for (const d of diffs) {
          const text = formatDiff(d);
          parts.push(text);
          size += text.length + 1;
          if (size > READ_LIMITS.diffChars) return truncate(parts.join("\n"), READ_LIMITS.diffChars);
        }
        if (diffs.length < PAGE) return parts.join("\n");
      }
    },

    async readFile(thread: ThreadRef, filePath: string, ref?: string): Promise<string> {
      const at = ref ?? (await defaultRef(thread));
      const raw = await call<string | Blob>("read file", () => api.repositoryFiles.showRaw(projectId, filePath.replace(/^\/+/, ""), at));
      const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : new Uint8Array(await raw.arrayBuffer());
      if (looksBinary(bytes)) return `[binary file: ${bytes.length} bytes, not shown]`;
      const text = typeof raw === "string" ? raw : new TextDecoder().decode(bytes);
      return truncate(text, READ_LIMITS.fileChars);
    },

    async listDirectory(thread: ThreadRef, dirPath: string, ref?: string): Promise<FileEntry[]> {
      const at = ref ?? (await defaultRef(thread));
      const path = dirPath.replace(/^\/+|\/+$/g, "");
      // gitbeaker follows the Link header; maxPages bounds it just past the limit.
      const tree = await call<ApiTreeEntry[]>("list directory", () =>
        api.repositories.allRepositoryTrees(projectId, { ...(path && path !== "." ? { path } : {}), ref: at, perPage: PAGE, maxPages: READ_LIMITS.entries / PAGE + 1 }),
      );
      // Submodules ("commit") cannot be read here; leave them out.
      const entries: FileEntry[] = tree.filter((e) => e.type !== "commit").map((e) => ({ name: e.name, path: e.path, type: e.type === "tree" ? "dir" : "file" }));
      if (entries.length <= READ_LIMITS.entries) return entries;
      return [...entries.slice(0, READ_LIMITS.entries), { name: `[truncated: more than ${READ_LIMITS.entries} entries]`, path: "", type: "file" }];
    },
  };
}
