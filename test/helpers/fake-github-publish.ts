import type { Answer, RecordedRequest } from "./fake-github.js";
import { gitBlobSha, type FakeRepo, type FakeRepoFile, type FakeMode } from "./fake-repo.js";

/**
 * The publishing half of the fake GitHub: the REST endpoints a publish uses, each with GitHub's
 * documented fields only (anything else is a 422) and its rules — `base_tree` and parents must
 * exist, a ref that exists is "Reference already exists", a ref update that is not a
 * fast-forward is refused unless forced, a protected branch takes no update, one open pull
 * request per head branch, drafts only where the plan offers them. Works on a FakeRepo.
 */

export type FakePull = {
  number: number;
  title: string;
  body: string;
  head: { ref: string; repoId: number; fullName: string; /** A fork's head commit (its branch is not in this repository). */ sha?: string };
  base: { ref: string };
  draft: boolean;
  state: "open" | "closed";
  /** Opened by forgebot (through the API) rather than registered by the test. */
  byBot: boolean;
};

export type PublishState = {
  repo: FakeRepo;
  repoPath: string;
  repoId: number;
  pulls: FakePull[];
  slug: string;
  /** False: the repository's plan has no draft pull requests (GitHub answers 422 to `draft: true`). */
  draftPullRequests: boolean;
  nextPull(): number;
  /** Where the tarball redirect points (the fake serves the download itself). */
  downloadOrigin(): string;
  /** Requests refused for fields GitHub does not document. */
  shapeRefusals: string[];
};

const DOCS = "https://docs.github.com/rest/git";

function invalid(message: string, errors?: unknown[]): Answer {
  return [422, { message, ...(errors ? { errors } : {}), documentation_url: DOCS }];
}

function unknownFields(body: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(body).filter((k) => !allowed.includes(k));
}

const MODES = ["100644", "100755", "040000", "160000", "120000"];

function commitApi(state: PublishState, sha: string) {
  const c = state.repo.get(sha)!;
  return {
    sha,
    html_url: `https://github.test/${state.repoPath}/commit/${sha}`,
    message: c.message,
    tree: { sha: c.tree },
    parents: c.parents.map((p) => ({ sha: p })),
    author: { name: `${state.slug}[bot]`, email: "bot@users.noreply.github.com", date: new Date().toISOString() },
    committer: { name: "GitHub", email: "noreply@github.com", date: new Date().toISOString() },
    verification: { verified: true, reason: "valid" },
  };
}

function pullApi(state: PublishState, pull: FakePull) {
  const headSha = pull.head.sha ?? state.repo.branches.get(pull.head.ref) ?? null;
  const baseSha = state.repo.branches.get(pull.base.ref) ?? null;
  return {
    number: pull.number,
    html_url: `https://github.test/${state.repoPath}/pull/${pull.number}`,
    title: pull.title,
    body: pull.body,
    draft: pull.draft,
    state: pull.state,
    user: pull.byBot ? { login: `${state.slug}[bot]`, type: "Bot" } : { login: "Codertocat", type: "User" },
    head: { ref: pull.head.ref, sha: headSha, repo: { id: pull.head.repoId, full_name: pull.head.fullName } },
    base: { ref: pull.base.ref, sha: baseSha, repo: { id: state.repoId, full_name: state.repoPath } },
  };
}

function branchApi(state: PublishState, name: string) {
  const sha = state.repo.branches.get(name)!;
  const c = state.repo.get(sha)!;
  return { name, commit: { sha, html_url: `https://github.test/${state.repoPath}/commit/${sha}`, commit: { message: c.message } }, protected: state.repo.protectedBranches.has(name) };
}

function createTree(state: PublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, ["tree", "base_tree"]);
  if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
  if (!Array.isArray(body.tree)) return invalid("Invalid request. \"tree\" wasn't supplied.");
  const base = typeof body.base_tree === "string" ? state.repo.trees.get(body.base_tree) : new Map<string, FakeRepoFile>();
  if (!base) return invalid("Invalid tree info: base_tree is not a tree of this repository");
  const files = new Map(base);
  for (const raw of body.tree as Record<string, unknown>[]) {
    const extraEntry = unknownFields(raw, ["path", "mode", "type", "sha", "content"]);
    if (extraEntry.length) return invalid(`tree entry has unknown fields: ${extraEntry.join(", ")}`);
    const path = String(raw.path ?? "");
    if (!path || path.startsWith("/") || path.split("/").includes("..")) return invalid("tree.path is invalid");
    if (!MODES.includes(String(raw.mode))) return invalid("tree.mode is not one of 100644, 100755, 040000, 160000, 120000");
    if (!["blob", "tree", "commit"].includes(String(raw.type))) return invalid("tree.type is not one of blob, tree, commit");
    if ("sha" in raw && "content" in raw) return invalid("Only one of tree.sha or tree.content may be given");
    if (raw.sha === null) {
      if (!files.has(path)) return invalid(`GitHub cannot delete ${path}: it is not in the base tree`);
      files.delete(path);
      continue;
    }
    let content: Buffer | undefined;
    if (typeof raw.content === "string") content = Buffer.from(raw.content, "utf8");
    else if (typeof raw.sha === "string") content = state.repo.blobs.get(raw.sha);
    if (!content) return invalid("tree.sha is not a blob of this repository");
    files.set(path, { content, mode: String(raw.mode) as FakeMode });
  }
  const sha = state.repo.tree(files);
  return [201, { sha, url: `https://api.github.test/trees/${sha}`, tree: [...files.keys()].map((path) => ({ path })), truncated: false }];
}

function createCommit(state: PublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, ["message", "tree", "parents", "author", "committer", "signature"]);
  if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
  if (typeof body.message !== "string" || typeof body.tree !== "string") return invalid("message and tree are required");
  const files = state.repo.trees.get(body.tree);
  if (!files) return invalid("Tree SHA does not exist");
  const parents = Array.isArray(body.parents) ? (body.parents as unknown[]).map(String) : [];
  if (parents.some((p) => !state.repo.get(p))) return invalid("Parent SHA does not exist or is not a commit object");
  const sha = state.repo.commit(parents, files, body.message);
  return [201, commitApi(state, sha)];
}

function createRef(state: PublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, ["ref", "sha"]);
  if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
  const ref = String(body.ref ?? "");
  const m = /^refs\/heads\/(.+)$/.exec(ref);
  if (!m || ref.split("/").length < 3) return invalid("Reference name must start with 'refs/' and have at least two slashes.");
  const branch = m[1]!;
  if (state.repo.branches.has(branch)) return invalid("Reference already exists");
  if (!state.repo.get(String(body.sha))) return invalid("Object does not exist");
  if (state.repo.refusedPrefixes.some((p) => branch.startsWith(p))) return invalid("Repository rule violations found\n\nCannot create ref due to creations being restricted.");
  state.repo.branches.set(branch, String(body.sha));
  return [201, { ref, node_id: "REF", url: `https://api.github.test/refs/${branch}`, object: { sha: body.sha, type: "commit" } }];
}

function updateRef(state: PublishState, branch: string, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, ["sha", "force"]);
  if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
  const current = state.repo.branches.get(branch);
  if (!current) return invalid("Reference does not exist");
  const sha = String(body.sha ?? "");
  if (!state.repo.get(sha)) return invalid("Object does not exist");
  if (state.repo.protectedBranches.has(branch)) return invalid(`Protected branch update failed for refs/heads/${branch}.`);
  if (body.force !== true && !state.repo.isAncestor(current, sha)) return invalid("Update is not a fast forward");
  state.repo.branches.set(branch, sha);
  return [200, { ref: `refs/heads/${branch}`, object: { sha, type: "commit" } }];
}

function createPull(state: PublishState, body: Record<string, unknown>): Answer {
  const extra = unknownFields(body, ["title", "head", "head_repo", "base", "body", "maintainer_can_modify", "draft", "issue"]);
  if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
  const head = String(body.head ?? "").replace(/^[^:]+:/, "");
  const base = String(body.base ?? "");
  const errors = (message: string, field: string) => invalid("Validation Failed", [{ resource: "PullRequest", code: "custom", field, message }]);
  if (!state.repo.branches.has(head)) return errors(`head ${head} does not exist`, "head");
  if (!state.repo.branches.has(base)) return errors(`base ${base} does not exist`, "base");
  if (typeof body.title !== "string" || !body.title) return errors("title is missing", "title");
  if (state.pulls.some((p) => p.state === "open" && p.head.ref === head && !p.head.sha)) return errors(`A pull request already exists for ${state.repoPath.split("/")[0]}:${head}.`, "head");
  if (body.draft === true && !state.draftPullRequests) return errors("Draft pull requests are not supported in this repository.", "draft");
  const pull: FakePull = {
    number: state.nextPull(),
    title: body.title,
    body: String(body.body ?? ""),
    head: { ref: head, repoId: state.repoId, fullName: state.repoPath },
    base: { ref: base },
    draft: body.draft === true,
    state: "open",
    byBot: true,
  };
  state.pulls.push(pull);
  return [201, pullApi(state, pull)];
}

/** Answers a publishing request, or null for requests that are none of these endpoints; a request with undocumented fields is also noted in `shapeRefusals`. */
export function publishRoute(state: PublishState | null, r: RecordedRequest, p: string, url: URL): Answer | null {
  const answer = route(state, r, p, url);
  const message = (answer?.[1] as { message?: unknown } | undefined)?.message;
  if (state && answer?.[0] === 422 && typeof message === "string" && /unknown fields/.test(message)) state.shapeRefusals.push(`${r.method} ${p}: ${message}`);
  return answer;
}

function route(state: PublishState | null, r: RecordedRequest, p: string, url: URL): Answer | null {
  if (!state) return null;
  const repo = `/repos/${state.repoPath}`;
  const body = (r.body ?? {}) as Record<string, unknown>;
  let m: RegExpExecArray | null;
  if (r.method === "GET" && (m = /^\/_codeload\/([0-9a-f]+)$/.exec(p))) {
    const archive = state.repo.archive(m[1]!);
    return archive ? [200, archive, { "content-type": "application/x-gzip" }] : null;
  }
  if (!p.startsWith(repo)) return null;
  // Octokit may send a ref or branch path parameter with its slashes encoded.
  const rest = decodeURIComponent(p.slice(repo.length));
  if (r.method === "GET" && rest === "") return [200, { id: state.repoId, name: state.repoPath.split("/")[1], full_name: state.repoPath, default_branch: state.repo.defaultBranch }];
  if (r.method === "GET" && (m = /^\/tarball\/([0-9a-f]{40})$/.exec(rest)) && state.repo.get(m[1]!)) {
    return [302, undefined, { location: `${state.downloadOrigin()}/_codeload/${m[1]}` }];
  }
  if (r.method === "GET" && (m = /^\/branches\/(.+)$/.exec(rest))) {
    const name = decodeURIComponent(m[1]!);
    return state.repo.branches.has(name) ? [200, branchApi(state, name)] : [404, { message: "Branch not found" }];
  }
  if (r.method === "GET" && (m = /^\/git\/commits\/([0-9a-f]{40})$/.exec(rest))) return state.repo.get(m[1]!) ? [200, commitApi(state, m[1]!)] : [404, { message: "Not Found" }];
  if (r.method === "GET" && (m = /^\/git\/ref\/heads\/(.+)$/.exec(rest))) {
    const sha = state.repo.branches.get(decodeURIComponent(m[1]!));
    return sha ? [200, { ref: `refs/heads/${decodeURIComponent(m[1]!)}`, object: { sha, type: "commit" } }] : [404, { message: "Not Found" }];
  }
  if (r.method === "POST" && rest === "/git/blobs") {
    const extra = unknownFields(body, ["content", "encoding"]);
    if (extra.length) return invalid(`unknown fields: ${extra.join(", ")}`);
    if (typeof body.content !== "string" || !["utf-8", "base64", undefined].includes(body.encoding as string | undefined)) return invalid("content is required; encoding is utf-8 or base64");
    const content = Buffer.from(body.content, body.encoding === "base64" ? "base64" : "utf8");
    const sha = gitBlobSha(content);
    state.repo.blobs.set(sha, content);
    return [201, { sha, url: `https://api.github.test/blobs/${sha}` }];
  }
  if (r.method === "POST" && rest === "/git/trees") return createTree(state, body);
  if (r.method === "POST" && rest === "/git/commits") return createCommit(state, body);
  if (r.method === "POST" && rest === "/git/refs") return createRef(state, body);
  if (r.method === "PATCH" && (m = /^\/git\/refs\/heads\/(.+)$/.exec(rest))) return updateRef(state, decodeURIComponent(m[1]!), body);
  if (r.method === "POST" && rest === "/pulls") return createPull(state, body);
  if (r.method === "GET" && rest === "/pulls") {
    const head = url.searchParams.get("head")?.replace(/^[^:]+:/, "");
    const wanted = url.searchParams.get("state") ?? "open";
    const found = state.pulls.filter((pr) => (!head || pr.head.ref === head) && (wanted === "all" || pr.state === wanted));
    return [200, found.map((pr) => pullApi(state, pr))];
  }
  if (r.method === "GET" && (m = /^\/pulls\/(\d+)$/.exec(rest))) {
    const pull = state.pulls.find((pr) => pr.number === Number(m![1]));
    return pull ? [200, pullApi(state, pull)] : null;
  }
  return null;
}
