import type { ProbotOctokit } from "probot";
import { ForgeApiError, type RepositoryArchive, type ThreadRef } from "../../sessions/forge-port.js";
import { fetchArchive } from "../archive-download.js";
import { call, repoParts } from "./api.js";

/**
 * Repository snapshots on GitHub: a pull request's head commit (the base repository serves a
 * fork's commits too) or the default branch's head, and `GET /repos/{o}/{r}/tarball/{sha}`.
 * GitHub answers the tarball with a 302 to a short-lived download URL that needs no token; the
 * download is fetched apart from the API client, streamed, with its own time limit.
 */
export function createGitHubArchive(octokit: ProbotOctokit): RepositoryArchive {
  return {
    async snapshotRef(thread: ThreadRef) {
      const { owner, repo } = repoParts(thread);
      if (thread.kind === "change_request") {
        const { data } = await call("read pull request", () => octokit.rest.pulls.get({ owner, repo, pull_number: thread.number }));
        return { ref: data.head.ref, sha: data.head.sha };
      }
      const { data: repository } = await call("read repository", () => octokit.rest.repos.get({ owner, repo }));
      const { data: branch } = await call("read default branch", () => octokit.rest.repos.getBranch({ owner, repo, branch: repository.default_branch }));
      return { ref: repository.default_branch, sha: branch.commit.sha };
    },

    async download(thread: ThreadRef, sha: string, signal: AbortSignal) {
      const { owner, repo } = repoParts(thread);
      const response = await call("tarball", () =>
        octokit.request("GET /repos/{owner}/{repo}/tarball/{ref}", {
          owner,
          repo,
          ref: sha,
          request: { redirect: "manual", parseSuccessResponseBody: false, signal },
        }),
      );
      const location = response.headers.location;
      // A GHES proxy may serve the tarball itself instead of redirecting.
      if ((response.status as number) === 200 && response.data) return response.data as unknown as ReadableStream<Uint8Array>;
      if (!location) throw new ForgeApiError(`GitHub tarball answered ${response.status} without a download location`, response.status);
      await (response.data as unknown as ReadableStream<Uint8Array> | null)?.cancel().catch(() => undefined);
      return fetchArchive("github", "GitHub tarball download", location, { signal });
    },
  };
}
