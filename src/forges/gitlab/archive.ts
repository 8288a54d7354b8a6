import { countForgeRequest, forgeRequestOutcome } from "../../metrics/index.js";
import { ForgeApiError, type RepositoryArchive, type ThreadRef } from "../../sessions/forge-port.js";
import { call, type GitLabApi } from "./api.js";

/** A download of a whole repository may take longer than one API call's timeout. */
export const ARCHIVE_TIMEOUT_MS = 10 * 60_000;

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
      let response: Response;
      try {
        response = await fetch(url, { headers: { "PRIVATE-TOKEN": settings.token }, signal: AbortSignal.any([signal, AbortSignal.timeout(ARCHIVE_TIMEOUT_MS)]) });
      } catch (err: unknown) {
        countForgeRequest("gitlab", "network_error");
        throw new ForgeApiError("GitLab archive download failed: network error", undefined, { cause: err });
      }
      countForgeRequest("gitlab", forgeRequestOutcome(response.status, Object.fromEntries(response.headers.entries())));
      if (!response.ok || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        throw new ForgeApiError(`GitLab archive download failed (${response.status})`, response.status);
      }
      return response.body;
    },
  };
}
