import type { ProbotOctokit } from "probot";
import {
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
import { call, repoParts } from "./api.js";

type Octokit = ProbotOctokit;

/**
 * Publishing on GitHub through the Git Data API, with the installation's token and no git:
 * `POST …/git/blobs` for files that are not UTF-8 text (the rest go inline in the tree),
 * `POST …/git/trees` with `base_tree` (the parent commit's tree), `POST …/git/commits` (no
 * author or committer given: GitHub signs commits its app makes), then `POST …/git/refs` for a
 * new branch or `PATCH …/git/refs/heads/{branch}` with `force: false` (GitHub refuses anything
 * but a fast-forward), and `POST …/pulls` with `draft: true` — a repository without drafts gets a
 * normal pull request titled "[Draft] …". Blobs, trees and commits are inert until a ref points
 * at them, so those steps are simply made again on a repeat; the ref and the pull request are
 * looked for first.
 */

type ApiErrorBody = { message?: unknown; errors?: { message?: unknown; code?: unknown }[] };

/** What GitHub said about a refused request: its message and its errors' messages. */
export function githubSaid(err: unknown): string {
  const data = ((err as { cause?: { response?: { data?: unknown } } }).cause?.response?.data ?? {}) as ApiErrorBody;
  const parts = [typeof data.message === "string" ? data.message : "", ...(data.errors ?? []).map((e) => (typeof e.message === "string" ? e.message : typeof e.code === "string" ? e.code : ""))];
  return parts.filter(Boolean).join("; ");
}

/** Content GitHub takes inline in a tree (the rest becomes blobs). */
export { isInlineText };

/** `login <id+login@users.noreply.host>`: the address GitHub attributes to the user. */
export function githubNoreply(actor: Actor, host: string): string {
  return `${actor.login} <${actor.id}+${actor.login}@users.noreply.${host}>`;
}

type TreeEntry = { path: string; mode: "100644" | "100755" | "040000" | "160000" | "120000"; type: "blob"; sha?: string | null; content?: string };

function mode(value: string): TreeEntry["mode"] {
  if (value === "100755" || value === "120000") return value;
  return "100644";
}

/** Tree entries for `files` on top of the parent's tree: a deletion is an entry with `sha: null`. */
function treeEntries(files: readonly PublishFile[], blobs: Record<string, string>): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const file of files) {
    if (file.oldPath && file.oldPath !== file.path) entries.push({ path: file.oldPath, mode: mode(file.oldMode), type: "blob", sha: null });
    if (file.content === null) {
      entries.push({ path: file.path, mode: mode(file.oldMode), type: "blob", sha: null });
      continue;
    }
    const blob = blobs[file.path];
    entries.push(blob ? { path: file.path, mode: mode(file.newMode), type: "blob", sha: blob } : { path: file.path, mode: mode(file.newMode), type: "blob", content: Buffer.from(file.content).toString("utf8") });
  }
  return entries;
}

export function createGitHubPublisher(octokit: Octokit, host: string): ChangePublisher {
  async function findBranch(thread: ThreadRef, name: string): Promise<BranchHead | null> {
    try {
      const { data } = await call("read branch", () => octokit.rest.repos.getBranch({ ...repoParts(thread), branch: name }));
      return { name: data.name, sha: data.commit.sha, message: data.commit.commit.message, protected: data.protected, url: data.commit.html_url ?? null };
    } catch (err: unknown) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async function ours(thread: ThreadRef, branch: string, marker: string): Promise<PublishedCommit | null> {
    return publishedHead(await findBranch(thread, branch), marker);
  }

  async function findChangeRequest(thread: ThreadRef, branch: string): Promise<OpenedChangeRequest | null> {
    const { owner, repo } = repoParts(thread);
    const { data } = await call("list pull requests", () => octokit.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, state: "all", per_page: 10 }));
    const found = data[0];
    return found ? { number: found.number, url: found.html_url, title: found.title, draft: found.draft ?? false } : null;
  }

  return {
    async defaultBranch(thread) {
      const { data } = await call("read repository", () => octokit.rest.repos.get(repoParts(thread)));
      return data.default_branch;
    },

    async changeRequestBranches(thread) {
      const { data } = await call("read pull request", () => octokit.rest.pulls.get({ ...repoParts(thread), pull_number: thread.number }));
      const headRepo = data.head.repo as { id?: number } | null | undefined;
      const baseRepo = data.base.repo as { id?: number } | null | undefined;
      // A fork whose repository was deleted has no head repository at all.
      const fork = headRepo === null || (headRepo?.id !== undefined && baseRepo?.id !== undefined && headRepo.id !== baseRepo.id);
      return { headBranch: data.head.ref, headSha: data.head.sha, baseBranch: data.base.ref, fork, open: data.state === "open" };
    },

    findBranch,
    findChangeRequest,
    coAuthor: (actor) => githubNoreply(actor, host),

    async pushCommit(thread: ThreadRef, input: CommitInput, steps: PublishSteps): Promise<PublishedCommit> {
      const parts = repoParts(thread);
      const binary = input.files.filter((f) => f.content !== null && !isInlineText(f.content));
      const blobs: Record<string, string> = binary.length
        ? await steps.run("blobs", {
            create: async () => {
              const made: Record<string, string> = {};
              for (const file of binary) {
                const { data } = await steps.write(() => call("create blob", () => octokit.rest.git.createBlob({ ...parts, content: Buffer.from(file.content!).toString("base64"), encoding: "base64" })));
                made[file.path] = data.sha;
              }
              return made;
            },
          })
        : {};
      const tree = await steps.run("tree", {
        create: async () => {
          const { data: parent } = await call("read commit", () => octokit.rest.git.getCommit({ ...parts, commit_sha: input.parentSha }));
          const { data } = await steps.write(() => call("create tree", () => octokit.rest.git.createTree({ ...parts, base_tree: parent.tree.sha, tree: treeEntries(input.files, blobs) })));
          return { sha: data.sha };
        },
      });
      const commit = await steps.run("commit", {
        create: async () => {
          const { data } = await steps.write(() => call("create commit", () => octokit.rest.git.createCommit({ ...parts, message: input.message, tree: tree.sha, parents: [input.parentSha] })));
          return { sha: data.sha, url: data.html_url ?? null };
        },
      });
      return steps.run("branch", {
        find: () => ours(thread, input.branch, input.marker),
        create: async (adopt) => {
          try {
            if (input.newBranch) await steps.write(() => call("create branch", () => octokit.rest.git.createRef({ ...parts, ref: `refs/heads/${input.branch}`, sha: commit.sha })));
            else await steps.write(() => call("update branch", () => octokit.rest.git.updateRef({ ...parts, ref: `heads/${input.branch}`, sha: commit.sha, force: false })));
            return commit;
          } catch (err: unknown) {
            const status = statusOf(err);
            if (status !== 422 && status !== 409) throw err;
            // "Reference already exists", "Update is not a fast forward": an earlier attempt may be there.
            const found = await ours(thread, input.branch, input.marker);
            if (found) return adopt(found);
            const said = githubSaid(err);
            if (input.newBranch && /already exists/i.test(said)) throw new PublishRefusal(`a branch named \`${input.branch}\` already exists and holds no commit of this session`);
            if (/fast.?forward/i.test(said)) throw new PublishRefusal(`\`${input.branch}\` moved while the change was being published, and I never force-push`);
            throw new PublishRefusal(`GitHub refused to ${input.newBranch ? "create" : "update"} \`${input.branch}\`${said ? ` (${said})` : ""}`);
          }
        },
      });
    },

    async openChangeRequest(thread, input, steps) {
      const parts = repoParts(thread);
      return steps.run("change_request", {
        find: () => findChangeRequest(thread, input.branch),
        create: async (adopt) => {
          const create = (draft: boolean) =>
            steps.write(() =>
              call("create pull request", () =>
                octokit.rest.pulls.create({ ...parts, head: input.branch, base: input.base, title: draft ? input.title : `[Draft] ${input.title}`, body: input.body, draft }),
              ),
            );
          try {
            const { data } = await create(true);
            return { number: data.number, url: data.html_url, title: data.title, draft: data.draft ?? true };
          } catch (err: unknown) {
            if (statusOf(err) !== 422) throw err;
            const said = githubSaid(err);
            if (/already exists/i.test(said)) {
              const found = await findChangeRequest(thread, input.branch);
              if (found) return adopt(found);
            }
            if (!/draft/i.test(said)) throw new PublishRefusal(`GitHub refused the pull request (${said || "422"})`);
            // Plans without draft pull requests: a normal one whose title says it is a draft.
            const { data } = await create(false);
            return { number: data.number, url: data.html_url, title: data.title, draft: false };
          }
        },
      });
    },
  };
}
