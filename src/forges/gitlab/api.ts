import type { RequesterType, ResourceOptions } from "@gitbeaker/requester-utils";
import {
  Branches,
  Commits,
  IssueDiscussions,
  IssueNotes,
  Issues,
  MergeRequestDiscussions,
  MergeRequestDraftNotes,
  MergeRequestNotes,
  MergeRequests,
  ProjectMembers,
  Projects,
  Repositories,
  RepositoryFiles,
  Users,
} from "@gitbeaker/rest";
import { ForgeApiError } from "../../sessions/forge-port.js";

/** The gitbeaker resources forgebot uses, built once per process and shared by every client. */
export type GitLabApi = {
  mergeRequestNotes: MergeRequestNotes;
  issueNotes: IssueNotes;
  mergeRequestDiscussions: MergeRequestDiscussions;
  issueDiscussions: IssueDiscussions;
  projectMembers: ProjectMembers;
  users: Users;
  mergeRequests: MergeRequests;
  issues: Issues;
  repositoryFiles: RepositoryFiles;
  repositories: Repositories;
  draftNotes: MergeRequestDraftNotes;
  projects: Projects;
  branches: Branches;
  commits: Commits;
};

export type GitLabApiSettings = {
  /** GitLab's base URL (https://gitlab.com or the self-managed URL, path included). */
  url: string;
  token: string;
  requesterFn: (serviceOptions: ResourceOptions) => RequesterType;
  /** Bound on each whole call, retries and waits included; null for none (attempts have their own). */
  queryTimeoutMs: number | null;
};

export function createGitLabApi(settings: GitLabApiSettings): GitLabApi {
  // rateLimits: {} — limits live in the shared requester, not in one limiter per resource.
  const options = { host: settings.url, token: settings.token, requesterFn: settings.requesterFn, queryTimeout: settings.queryTimeoutMs, rateLimits: {} };
  return {
    mergeRequestNotes: new MergeRequestNotes(options),
    issueNotes: new IssueNotes(options),
    mergeRequestDiscussions: new MergeRequestDiscussions(options),
    issueDiscussions: new IssueDiscussions(options),
    projectMembers: new ProjectMembers(options),
    users: new Users(options),
    mergeRequests: new MergeRequests(options),
    issues: new Issues(options),
    repositoryFiles: new RepositoryFiles(options),
    repositories: new Repositories(options),
    draftNotes: new MergeRequestDraftNotes(options),
    projects: new Projects(options),
    branches: new Branches(options),
    commits: new Commits(options),
  };
}

/** A note as the REST API returns it; only what we read. */
export type ApiNote = {
  id: number;
  body: string;
  author?: { id: number; username: string } | null;
  created_at: string;
  updated_at?: string;
  system?: boolean;
  internal?: boolean;
  confidential?: boolean;
};

/** Wraps any failure into a ForgeApiError naming the call and keeping the HTTP status. */
export async function call<T>(what: string, request: () => Promise<unknown>): Promise<T> {
  try {
    return (await request()) as T;
  } catch (err: unknown) {
    const status = err instanceof ForgeApiError ? err.status : undefined;
    const retryAfterMs = err instanceof ForgeApiError ? err.retryAfterMs : undefined;
    throw new ForgeApiError(`GitLab ${what} failed${status ? ` (${status})` : ""}`, status, { cause: err, retryAfterMs });
  }
}
