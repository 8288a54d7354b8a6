import {
  ForgeApiError,
  PublishRefusal,
  type Actor,
  type BranchHead,
  type ChangePublisher,
  type CommitInput,
  type OpenedChangeRequest,
  type PublishFile,
  type PublishSteps,
  publishedHead,
  type PublishedCommit,
  type ThreadRef,
} from "../../sessions/forge-port.js";
import { isInlineText, statusOf } from "../publish-shared.js";
import { call, type GitLabApi } from "./api.js";

/**
 * Publishing on GitLab with the bot's token and no git: one `POST /projects/:id/repository/commits`
 * with `actions[]` (create, update, delete, move, chmod; base64 for content that is not UTF-8
 * text) makes the commit and, with `start_sha`, the new branch at once; on an existing branch
 * (`apply here`, a follow-up) each update, move and delete carries the file's `last_commit_id`, so
 * GitLab refuses the commit rather than overwrite a file someone changed since. Then
 * `POST /projects/:id/merge_requests` titled "Draft: …" (GitLab's draft marker; the create call
 * takes no draft field) with `remove_source_branch: true`. `force` is never sent.
 */

type ApiBranch = { name: string; protected?: boolean; commit: { id: string; message?: string; web_url?: string } };
type ApiMergeRequest = { iid: number; web_url?: string; title: string; draft?: boolean; work_in_progress?: boolean; source_branch?: string; target_branch?: string; sha?: string | null; state?: string; source_project_id?: number; target_project_id?: number };
type ApiCommit = { id: string; web_url?: string };
type ApiFile = { last_commit_id?: string };

/** What GitLab said about a refused request (the transport keeps its message in the cause). */
export function gitlabSaid(err: unknown): string {
  const inner = (err as { cause?: unknown }).cause;
  const message = inner instanceof Error ? inner.message : err instanceof Error ? err.message : String(err);
  const at = message.indexOf("): ");
  return at >= 0 ? message.slice(at + 3) : "";
}

/** `login <id-login@users.noreply.host>`: GitLab's private commit email of the user. */
export function gitlabNoreply(actor: Actor, host: string): string {
  return `${actor.login} <${actor.id}-${actor.login}@users.noreply.${host}>`;
}

type Action = {
  action: "create" | "update" | "delete" | "move" | "chmod";
  filePath: string;
  previousPath?: string;
  content?: string;
  encoding?: "base64";
  lastCommitId?: string;
  executeFilemode?: boolean;
};

function contentOf(content: Uint8Array): Pick<Action, "content" | "encoding"> {
  return isInlineText(content) ? { content: Buffer.from(content).toString("utf8") } : { content: Buffer.from(content).toString("base64"), encoding: "base64" };
}

/** The commit's actions; `lastCommit` holds each existing file's last commit (only on an existing branch). */
export function commitActions(files: readonly PublishFile[], lastCommit: ReadonlyMap<string, string>): Action[] {
  const actions: Action[] = [];
  const last = (path: string) => (lastCommit.has(path) ? { lastCommitId: lastCommit.get(path)! } : {});
  for (const file of files) {
    if (file.newMode === "120000" || (file.oldMode === "120000" && file.content !== null)) {
      throw new PublishRefusal(`GitLab's commits API cannot write symbolic links, and \`${file.path}\` is one`);
    }
    if (file.content === null) {
      actions.push({ action: "delete", filePath: file.path, ...last(file.path) });
      continue;
    }
    if (file.status === "added") actions.push({ action: "create", filePath: file.path, ...contentOf(file.content) });
    else if (file.oldPath && file.oldPath !== file.path) actions.push({ action: "move", filePath: file.path, previousPath: file.oldPath, ...contentOf(file.content), ...last(file.oldPath) });
    else actions.push({ action: "update", filePath: file.path, ...contentOf(file.content), ...last(file.path) });
    const wasExecutable = file.oldMode === "100755";
    const executable = file.newMode === "100755";
    if (executable !== wasExecutable && (executable || file.status !== "added")) actions.push({ action: "chmod", filePath: file.path, executeFilemode: executable });
  }
  return actions;
}

export function createGitLabPublisher(api: GitLabApi, projectId: string, host: string): ChangePublisher {
  async function findBranch(_thread: ThreadRef, name: string): Promise<BranchHead | null> {
    try {
      const branch = await call<ApiBranch>("read branch", () => api.branches.show(projectId, name));
      return { name: branch.name, sha: branch.commit.id, message: branch.commit.message ?? "", protected: branch.protected === true, url: branch.commit.web_url ?? null };
    } catch (err: unknown) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async function ours(thread: ThreadRef, branch: string, marker: string): Promise<PublishedCommit | null> {
    return publishedHead(await findBranch(thread, branch), marker);
  }

  async function findChangeRequest(_thread: ThreadRef, branch: string): Promise<OpenedChangeRequest | null> {
    const found = await call<ApiMergeRequest[]>("list merge requests", () => api.mergeRequests.all({ projectId, sourceBranch: branch, state: "all" } as never));
    const mr = found[0];
    return mr ? { number: mr.iid, url: mr.web_url ?? null, title: mr.title, draft: mr.draft ?? mr.work_in_progress ?? /^draft:/i.test(mr.title) } : null;
  }

  /** Each existing file's last commit as of `ref`, for the actions that change or remove it. */
  async function lastCommits(files: readonly PublishFile[], ref: string): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const file of files) {
      if (file.status === "added") continue;
      const path = file.oldPath ?? file.path;
      const meta = await call<ApiFile>("read file", () => api.repositoryFiles.show(projectId, path, ref));
      if (meta.last_commit_id) found.set(path, meta.last_commit_id);
    }
    return found;
  }

  return {
    async defaultBranch() {
      const project = await call<{ default_branch?: string | null }>("read project", () => api.projects.show(projectId));
      if (!project.default_branch) throw new ForgeApiError("GitLab project has no default branch (is the repository empty?)", 404);
      return project.default_branch;
    },

    async changeRequestBranches(thread) {
      const mr = await call<ApiMergeRequest>("read merge request", () => api.mergeRequests.show(projectId, thread.number));
      if (!mr.sha || !mr.source_branch || !mr.target_branch) throw new ForgeApiError("GitLab merge request has no head commit or branches", 404);
      const fork = mr.source_project_id !== undefined && mr.target_project_id !== undefined && mr.source_project_id !== mr.target_project_id;
      return { headBranch: mr.source_branch, headSha: mr.sha, baseBranch: mr.target_branch, fork, open: (mr.state ?? "opened") === "opened" };
    },

    findBranch,
    findChangeRequest,
    coAuthor: (actor) => gitlabNoreply(actor, host),

    async pushCommit(thread: ThreadRef, input: CommitInput, steps: PublishSteps): Promise<PublishedCommit> {
      const lastCommit = input.newBranch ? new Map<string, string>() : await lastCommits(input.files, input.parentSha);
      const actions = commitActions(input.files, lastCommit);
      return steps.run("commit", {
        find: () => ours(thread, input.branch, input.marker),
        create: async (adopt) => {
          try {
            const commit = await steps.write(() =>
              call<ApiCommit>("create commit", () => api.commits.create(projectId, input.branch, input.message, actions as never, input.newBranch ? { startSha: input.parentSha } : {})),
            );
            return { sha: commit.id, url: commit.web_url ?? null };
          } catch (err: unknown) {
            const status = statusOf(err);
            if (status === undefined || status >= 500 || status === 429) throw err;
            // A branch an earlier attempt made, or a file it changed: that attempt's commit may be there.
            const found = await ours(thread, input.branch, input.marker);
            if (found) return adopt(found);
            const said = gitlabSaid(err);
            if (input.newBranch && /already exists/i.test(said) && /branch/i.test(said)) throw new PublishRefusal(`a branch named \`${input.branch}\` already exists and holds no commit of this session`);
            if (/changed since|has been changed|was changed/i.test(said)) throw new PublishRefusal(`a file of the change was changed on \`${input.branch}\` while it was being published, and I never overwrite`);
            // A 403 without a branch rule behind it is the bot's own access (token, role): a failure to fix, not a refusal.
            if (status === 403 && !/push into this branch|protected/i.test(said)) throw err;
            if (status === 403 || status === 400 || status === 422 || status === 409) throw new PublishRefusal(`GitLab refused the commit on \`${input.branch}\`${said ? ` (${said})` : ""}`);
            throw err;
          }
        },
      });
    },

    async openChangeRequest(thread, input, steps) {
      return steps.run("change_request", {
        find: () => findChangeRequest(thread, input.branch),
        create: async (adopt) => {
          try {
            const mr = await steps.write(() =>
              call<ApiMergeRequest>("create merge request", () =>
                api.mergeRequests.create(projectId, input.branch, input.base, `Draft: ${input.title}`, { description: input.body, removeSourceBranch: true }),
              ),
            );
            return { number: mr.iid, url: mr.web_url ?? null, title: mr.title, draft: true };
          } catch (err: unknown) {
            const status = statusOf(err);
            if (status === undefined || status >= 500 || status === 429) throw err;
            // 409: "Another open merge request already exists for this source branch".
            const found = await findChangeRequest(thread, input.branch);
            if (found) return adopt(found);
            const said = gitlabSaid(err);
            throw new PublishRefusal(`GitLab refused the merge request${said ? ` (${said})` : ` (${status})`}`);
          }
        },
      });
    },
  };
}
