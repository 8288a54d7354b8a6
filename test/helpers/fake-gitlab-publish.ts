import type { GitLabRequest } from "./fake-gitlab.js";
import type { FakeMode, FakeRepo, FakeRepoFile } from "./fake-repo.js";

/**
 * The publishing half of the fake GitLab: branches, file metadata, `POST …/repository/commits`
 * and merge requests, each with GitLab's documented attributes only (anything else is a 400) and
 * its rules — `start_sha`/`start_branch` only for a new branch, a protected branch takes no
 * commit from the bot, create/update/move/delete each check the file (and `last_commit_id`
 * when given), `force` overwrites, one open merge request per source branch (409). Works on a
 * FakeRepo.
 */

export type FakeMergeRequestOpened = {
  iid: number;
  title: string;
  description: string;
  sourceBranch: string;
  targetBranch: string;
  removeSourceBranch: boolean;
  state: "opened" | "closed" | "merged";
  /** Registered by a test (a thread to mention in) or opened through the API by the bot. */
  byBot: boolean;
  /** A fork's merge request: its source project, and its head commit (not a branch of this project). */
  sourceProjectId?: number;
  headSha?: string;
  /** The head last seen: a merge request keeps its `sha` when its source branch is deleted. */
  lastSha?: string;
};

export type GitLabPublishState = {
  repo: FakeRepo;
  projectId: number;
  projectPath: string;
  mergeRequests: FakeMergeRequestOpened[];
  nextIid(): number;
  /** Requests refused for attributes GitLab does not document. */
  shapeRefusals: string[];
};

type Answer = [number, unknown, Record<string, string>?];

const COMMIT_FIELDS = ["id", "branch", "commit_message", "start_branch", "start_sha", "start_project", "actions", "author_email", "author_name", "stats", "force"];
const ACTION_FIELDS = ["action", "file_path", "previous_path", "content", "encoding", "last_commit_id", "execute_filemode"];
const MR_FIELDS = [
  "id",
  "source_branch",
  "target_branch",
  "title",
  "allow_collaboration",
  "approvals_before_merge",
  "allow_maintainer_to_push",
  "assignee_id",
  "assignee_ids",
  "description",
  "labels",
  "merge_after",
  "milestone_id",
  "remove_source_branch",
  "reviewer_ids",
  "squash",
  "target_project_id",
];

function bad(message: string): Answer {
  return [400, { message: `400 Bad request - ${message}` }];
}

function unknownFields(body: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(body).filter((k) => !allowed.includes(k));
}

function commitApi(state: GitLabPublishState, sha: string) {
  const c = state.repo.get(sha)!;
  return {
    id: sha,
    short_id: sha.slice(0, 8),
    title: c.message.split("\n")[0],
    message: c.message,
    parent_ids: c.parents,
    author_name: "forgebot",
    author_email: "forgebot@example.com",
    committer_name: "forgebot",
    committer_email: "forgebot@example.com",
    web_url: `https://gitlab.example.com/${state.projectPath}/-/commit/${sha}`,
  };
}

function mergeRequestApi(state: GitLabPublishState, mr: FakeMergeRequestOpened) {
  mr.lastSha = mr.headSha ?? state.repo.branches.get(mr.sourceBranch) ?? mr.lastSha ?? state.repo.branches.get(state.repo.defaultBranch);
  return {
    id: 70_000 + mr.iid,
    iid: mr.iid,
    project_id: state.projectId,
    title: mr.title,
    description: mr.description,
    state: mr.state,
    draft: /^(draft:|\[draft\]|\(draft\))/i.test(mr.title),
    source_branch: mr.sourceBranch,
    target_branch: mr.targetBranch,
    source_project_id: mr.sourceProjectId ?? state.projectId,
    target_project_id: state.projectId,
    sha: mr.lastSha ?? null,
    force_remove_source_branch: mr.removeSourceBranch,
    author: { username: mr.byBot ? "forgebot" : "root" },
    web_url: `https://gitlab.example.com/${state.projectPath}/-/merge_requests/${mr.iid}`,
  };
}

/** Applies the actions to `files`; an error message when GitLab would refuse them. */
function applyActions(state: GitLabPublishState, files: Map<string, FakeRepoFile>, head: string | null, actions: Record<string, unknown>[]): string | null {
  for (const a of actions) {
    const extra = unknownFields(a, ACTION_FIELDS);
    if (extra.length) return `actions have unknown attributes: ${extra.join(", ")}`;
    const path = String(a.file_path ?? "");
    if (!path) return "actions[file_path] is missing";
    if (a.encoding !== undefined && a.encoding !== "text" && a.encoding !== "base64") return "actions[encoding] does not have a valid value";
    const content = typeof a.content === "string" ? Buffer.from(a.content, a.encoding === "base64" ? "base64" : "utf8") : null;
    const lastCommit = (p: string) => {
      if (typeof a.last_commit_id !== "string" || head === null) return null;
      return state.repo.lastCommitFor(head, p) === a.last_commit_id ? null : `The file has changed since you started editing it: ${p}`;
    };
    switch (a.action) {
      case "create":
        if (files.has(path)) return "A file with this name already exists";
        if (!content) return "actions[content] is missing";
        files.set(path, { content, mode: "100644" });
        break;
      case "update": {
        const existing = files.get(path);
        if (!existing) return "A file with this name doesn't exist";
        if (!content) return "actions[content] is missing";
        const changed = lastCommit(path);
        if (changed) return changed;
        files.set(path, { content, mode: existing.mode });
        break;
      }
      case "delete": {
        if (!files.has(path)) return "A file with this name doesn't exist";
        const changed = lastCommit(path);
        if (changed) return changed;
        files.delete(path);
        break;
      }
      case "move": {
        const from = String(a.previous_path ?? "");
        const existing = files.get(from);
        if (!existing) return "A file with this name doesn't exist";
        if (files.has(path)) return "A file with this name already exists";
        const changed = lastCommit(from);
        if (changed) return changed;
        files.delete(from);
        files.set(path, { content: content ?? existing.content, mode: existing.mode });
        break;
      }
      case "chmod": {
        const existing = files.get(path);
        if (!existing) return "A file with this name doesn't exist";
        if (typeof a.execute_filemode !== "boolean") return "actions[execute_filemode] is missing";
        files.set(path, { content: existing.content, mode: (a.execute_filemode ? "100755" : "100644") as FakeMode });
        break;
      }
      default:
        return "actions[action] does not have a valid value";
    }
  }
  return null;
}

function createCommit(state: GitLabPublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, COMMIT_FIELDS);
  if (extra.length) return bad(`unknown attributes: ${extra.join(", ")}`);
  const branch = String(body.branch ?? "");
  if (!branch || typeof body.commit_message !== "string" || !Array.isArray(body.actions)) return bad("branch, commit_message and actions are required");
  const exists = state.repo.branches.has(branch);
  const start = typeof body.start_sha === "string" ? body.start_sha : typeof body.start_branch === "string" ? state.repo.branches.get(body.start_branch) : undefined;
  if ((body.start_sha !== undefined || body.start_branch !== undefined) && exists && body.force !== true) {
    return bad(`A branch called '${branch}' already exists. Switch to that branch in order to make changes`);
  }
  if (!exists && start === undefined) return bad("You can only create or edit files when you are on a branch");
  if (start !== undefined && !state.repo.get(start)) return bad("Invalid start_sha or start_branch");
  if (exists && state.repo.protectedBranches.has(branch)) return [403, { message: "403 Forbidden - You are not allowed to push into this branch" }];
  if (!exists && state.repo.refusedPrefixes.some((p) => branch.startsWith(p))) return [400, { message: "Branch name does not follow the pattern set by a push rule" }];
  const parent = body.force === true || !exists ? start! : state.repo.branches.get(branch)!;
  const files = new Map(state.repo.get(parent)!.files);
  const refused = applyActions(state, files, parent, body.actions as Record<string, unknown>[]);
  if (refused) return bad(refused);
  const sha = state.repo.commit([parent], files, body.commit_message);
  state.repo.branches.set(branch, sha);
  return [201, commitApi(state, sha)];
}

function createMergeRequest(state: GitLabPublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, MR_FIELDS);
  if (extra.length) return bad(`unknown attributes: ${extra.join(", ")}`);
  const source = String(body.source_branch ?? "");
  const target = String(body.target_branch ?? "");
  if (typeof body.title !== "string" || !body.title) return bad("title is missing");
  if (!state.repo.branches.has(source) || !state.repo.branches.has(target)) return [400, { message: ["Source branch or target branch does not exist"] }];
  const open = state.mergeRequests.find((mr) => mr.state === "opened" && mr.sourceBranch === source && mr.sourceProjectId === undefined);
  if (open) return [409, { message: [`Another open merge request already exists for this source branch: !${open.iid}`] }];
  const mr: FakeMergeRequestOpened = {
    iid: state.nextIid(),
    title: body.title,
    description: String(body.description ?? ""),
    sourceBranch: source,
    targetBranch: target,
    removeSourceBranch: body.remove_source_branch === true,
    state: "opened",
    byBot: true,
  };
  state.mergeRequests.push(mr);
  return [201, mergeRequestApi(state, mr)];
}

/** Answers a publishing request, or undefined for requests that are none of these endpoints; a request with undocumented attributes is also noted in `shapeRefusals`. */
export function gitlabPublishRoute(state: GitLabPublishState | null, r: GitLabRequest): Answer | undefined {
  const answer = route(state, r);
  const message = (answer?.[1] as { message?: unknown } | undefined)?.message;
  if (state && answer?.[0] === 400 && typeof message === "string" && /unknown attributes/.test(message)) state.shapeRefusals.push(`${r.method} ${r.path}: ${message}`);
  return answer;
}

function route(state: GitLabPublishState | null, r: GitLabRequest): Answer | undefined {
  if (!state) return undefined;
  const prefix = `/projects/${state.projectId}`;
  if (!r.path.startsWith(prefix)) return undefined;
  const rest = r.path.slice(prefix.length);
  const body = (r.body ?? {}) as Record<string, unknown>;
  let m: RegExpExecArray | null;
  if (r.method === "GET" && rest === "") return [200, { id: state.projectId, path_with_namespace: state.projectPath, default_branch: state.repo.defaultBranch }];
  if (r.method === "GET" && rest === "/repository/archive.tar.gz") {
    const archive = state.repo.archive(r.query.get("sha") ?? "");
    return archive ? [200, archive, { "content-type": "application/x-gzip" }] : undefined;
  }
  if (r.method === "GET" && (m = /^\/repository\/branches\/(.+)$/.exec(rest))) {
    const name = decodeURIComponent(m[1]!);
    const sha = state.repo.branches.get(name);
    if (!sha) return [404, { message: "404 Branch Not Found" }];
    return [200, { name, commit: commitApi(state, sha), protected: state.repo.protectedBranches.has(name), default: name === state.repo.defaultBranch, developers_can_push: false, developers_can_merge: false }];
  }
  if (r.method === "GET" && (m = /^\/repository\/files\/([^/]+)$/.exec(rest))) {
    const path = decodeURIComponent(m[1]!);
    const ref = r.query.get("ref") ?? "";
    const sha = state.repo.get(ref) ? ref : state.repo.branches.get(ref);
    const file = sha ? state.repo.get(sha)?.files.get(path) : undefined;
    if (!sha || !file) return [404, { message: "404 File Not Found" }];
    return [200, { file_name: path.split("/").pop(), file_path: path, size: file.content.length, encoding: "base64", content: file.content.toString("base64"), ref, blob_id: "blob", commit_id: sha, last_commit_id: state.repo.lastCommitFor(sha, path) }];
  }
  if (r.method === "POST" && rest === "/repository/commits") return createCommit(state, body);
  if (r.method === "POST" && rest === "/merge_requests") return createMergeRequest(state, body);
  if (r.method === "GET" && rest === "/merge_requests") {
    const source = r.query.get("source_branch");
    const wanted = r.query.get("state") ?? "all";
    const found = state.mergeRequests.filter((mr) => (!source || mr.sourceBranch === source) && (wanted === "all" || mr.state === wanted));
    return [200, found.map((mr) => mergeRequestApi(state, mr))];
  }
  if (r.method === "GET" && (m = /^\/merge_requests\/(\d+)$/.exec(rest))) {
    const mr = state.mergeRequests.find((x) => x.iid === Number(m![1]));
    return mr ? [200, mergeRequestApi(state, mr)] : undefined;
  }
  return undefined;
}
