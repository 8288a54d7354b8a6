import { ForgeApiError, type RepositoryArchive, type ThreadRef } from "../../sessions/forge-port.js";
import { fetchArchive } from "../archive-download.js";
import { call, type GitLabApi } from "./api.js";

type ApiMergeRequest = { sha?: string | null; source_branch?: string };

/**
 * Repository snapshots on GitLab: a merge request's head commit (fork MRs included: the target
 * project serves it) or the default branch's head, and `GET /projects/:id/repository/archive.tar.gz?sha=`.
 * The archive is fetched apart from gitbeaker, streamed, with its own time limit: the transport
 * bounds each API call to 30 s and would cut a large download short.
 */
export function createGitLabArchive(api: GitLabApi, projectId: string, settings: { url: string; token: string }): RepositoryArchive {
  return {
    async snapshotRef(thread: ThreadRef) {
      if (thread.kind === "change_request") {
        const mr = await call<ApiMergeRequest>("read merge request", () => api.mergeRequests.show(projectId, thread.number));
        if (!mr.sha) throw new ForgeApiError("GitLab merge request has no head commit", 404);
        return { ref: mr.source_branch ?? mr.sha, sha: mr.sha };
      }
      const project = await call<{ default_branch?: string | null }>("read project", () => api.projects.show(projectId));
      if (!project.default_branch) throw new ForgeApiError("GitLab project has no default branch (is the repository empty?)", 404);
      const branch = await call<{ commit: { id: string } }>("read default branch", () => api.branches.show(projectId, project.default_branch!));
      return { ref: project.default_branch, sha: branch.commit.id };
    },

    async download(_thread: ThreadRef, sha: string, signal: AbortSignal) {
      const url = `${settings.url}/api/v4/projects/${encodeURIComponent(projectId)}/repository/archive.tar.gz?sha=${encodeURIComponent(sha)}`;
      return fetchArchive("gitlab", "GitLab archive download", url, { headers: { "PRIVATE-TOKEN": settings.token }, signal });
    },
  };
}
