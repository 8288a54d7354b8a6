import { randomBytes } from "node:crypto";

/**
 * A small in-memory GitLab REST API (v4) for tests, behind nock (see nock-gitlab.ts). It keeps
 * notes and discussions with GitLab's rules that matter to us: a reply in a discussion inherits
 * the discussion's internal flag, a discussion that is gone answers 404, deleting a deleted note
 * answers 404, and requests without the right `PRIVATE-TOKEN` answer 401.
 */
export type FakeNote = {
  id: number;
  projectId: number;
  noteable: "merge_requests" | "issues";
  iid: number;
  body: string;
  author: { id: number; username: string };
  discussionId: string;
  type: "DiscussionNote" | "DiffNote" | null;
  internal: boolean;
  /** What the POST asked for (`internal` in the body), as opposed to what GitLab stored. */
  requestedInternal: boolean | undefined;
  system: boolean;
  deleted: boolean;
  createdAt: string;
};

export type GitLabRequest = { method: string; path: string; query: URLSearchParams; body: unknown; token: string | undefined; at: number };
/** Return a [status, body, headers?] to answer instead of the fake's own handling. */
export type GitLabInterceptor = (req: GitLabRequest) => [number, unknown, Record<string, string>?] | undefined;

export const FAKE_GITLAB_TOKEN = "glpat-test-token";

export function discussionId(): string {
  return randomBytes(20).toString("hex");
}

export class FakeGitLab {
  readonly notes: FakeNote[] = [];
  readonly requests: GitLabRequest[] = [];
  interceptors: GitLabInterceptor[] = [];
  bot = { id: 990, username: "forgebot" };
  /** user id → access level; absent users get `defaultAccessLevel`, level 0 means "not a member" (404). */
  members = new Map<number, number>();
  defaultAccessLevel = 30;
  token = FAKE_GITLAB_TOKEN;
  /** Repository archives (gzipped tarballs) by commit sha. */
  archives = new Map<string, Buffer>();
  defaultBranch = "main";
  branchHeads = new Map<string, string>();
  /** Merge requests by iid: their head commit and source branch. */
  mergeRequests = new Map<number, { sha: string; sourceBranch: string; title?: string }>();
  #nextId = 50_000;

  /** Adds a note a person wrote (the trigger), so replies into its discussion can find it. */
  seedNote(input: { id: number; projectId: number; noteable: FakeNote["noteable"]; iid: number; body?: string; discussionId?: string; type?: FakeNote["type"]; internal?: boolean; author?: FakeNote["author"] }): FakeNote {
    const note: FakeNote = {
      id: input.id,
      projectId: input.projectId,
      noteable: input.noteable,
      iid: input.iid,
      body: input.body ?? "",
      author: input.author ?? { id: 1, username: "root" },
      discussionId: input.discussionId ?? discussionId(),
      type: input.type ?? null,
      internal: input.internal ?? false,
      requestedInternal: undefined,
      system: false,
      deleted: false,
      createdAt: new Date().toISOString(),
    };
    this.notes.push(note);
    return note;
  }

  /** Notes the bot wrote (deleted ones included unless `live`). */
  botNotes(filter: { iid?: number; live?: boolean } = {}): FakeNote[] {
    return this.notes.filter((n) => n.author.id === this.bot.id && (filter.iid === undefined || n.iid === filter.iid) && (!filter.live || !n.deleted));
  }

  writes(): GitLabRequest[] {
    return this.requests.filter((r) => r.method !== "GET");
  }

  #toApi(n: FakeNote) {
    return {
      id: n.id,
      type: n.type,
      body: n.body,
      author: { id: n.author.id, username: n.author.username, name: n.author.username },
      created_at: n.createdAt,
      updated_at: n.createdAt,
      system: n.system,
      noteable_type: n.noteable === "merge_requests" ? "MergeRequest" : "Issue",
      noteable_iid: n.iid,
      internal: n.internal,
      confidential: n.internal,
    };
  }

  #create(projectId: number, noteable: FakeNote["noteable"], iid: number, body: Record<string, unknown>, discussion?: FakeNote): FakeNote {
    const requestedInternal = typeof body.internal === "boolean" ? body.internal : undefined;
    const note: FakeNote = {
      id: this.#nextId++,
      projectId,
      noteable,
      iid,
      body: String(body.body ?? ""),
      author: { ...this.bot },
      discussionId: discussion?.discussionId ?? discussionId(),
      // As on GitLab: a reply takes the discussion's internal flag, whatever was asked for.
      internal: discussion ? discussion.internal : requestedInternal === true,
      requestedInternal,
      type: discussion ? (discussion.type === "DiffNote" ? "DiffNote" : "DiscussionNote") : null,
      system: false,
      deleted: false,
      createdAt: new Date().toISOString(),
    };
    this.notes.push(note);
    return note;
  }

  /** Answers one request: the reply function behind the nock interceptors. */
  respond(method: string, pathAndQuery: string, text: string, token: string | undefined): [number, unknown, Record<string, string>?] {
    const url = new URL(pathAndQuery, "https://gitlab.example.com");
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    const req: GitLabRequest = { method, path: url.pathname.replace(/^\/api\/v4/, ""), query: url.searchParams, body, token, at: Date.now() };
    this.requests.push(req);
    for (const intercept of this.interceptors) {
      const answer = intercept(req);
      if (answer) return answer;
    }
    if (token !== this.token) return [401, { message: "401 Unauthorized" }];
    return this.#route(req);
  }

  #route(r: GitLabRequest): [number, unknown, Record<string, string>?] {
    const p = r.path;
    const b = (r.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (r.method === "GET" && p === "/user") return [200, { ...this.bot, name: "forgebot", state: "active", bot: false }];
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/archive\.tar\.gz$/.exec(p))) {
      const archive = this.archives.get(r.query.get("sha") ?? "");
      return archive ? [200, archive, { "content-type": "application/x-gzip" }] : [404, { message: "404 Commit Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/branches\/([^/]+)$/.exec(p))) {
      const sha = this.branchHeads.get(decodeURIComponent(m[2]!));
      return sha ? [200, { name: decodeURIComponent(m[2]!), commit: { id: sha } }] : [404, { message: "404 Branch Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/merge_requests\/(\d+)$/.exec(p))) {
      const mr = this.mergeRequests.get(Number(m[2]));
      if (!mr) return [404, { message: "404 Not found" }];
      return [200, { id: 9000 + Number(m[2]), iid: Number(m[2]), project_id: Number(m[1]), title: mr.title ?? "A merge request", description: "", sha: mr.sha, source_branch: mr.sourceBranch, author: { username: "root" }, web_url: `https://gitlab.example.com/mr/${m[2]}` }];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)$/.exec(p))) return [200, { id: Number(m[1]), default_branch: this.defaultBranch }];
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/members\/all\/(\d+)$/.exec(p))) {
      const level = this.members.get(Number(m[2])) ?? this.defaultAccessLevel;
      if (level === 0) return [404, { message: "404 Not found" }];
      return [200, { id: Number(m[2]), username: `user${m[2]}`, access_level: level, state: "active" }];
    }
    if ((m = /^\/projects\/(\d+)\/(merge_requests|issues)\/(\d+)\/discussions\/([^/]+)\/notes$/.exec(p)) && r.method === "POST") {
      const [projectId, noteable, iid, did] = [Number(m[1]), m[2] as FakeNote["noteable"], Number(m[3]), m[4]!];
      const first = this.notes.find((n) => !n.deleted && n.projectId === projectId && n.noteable === noteable && n.iid === iid && n.discussionId === did);
      if (!first) return [404, { message: "404 Discussion Not Found" }];
      return [201, this.#toApi(this.#create(projectId, noteable, iid, b, first))];
    }
    if ((m = /^\/projects\/(\d+)\/(merge_requests|issues)\/(\d+)\/notes$/.exec(p))) {
      const [projectId, noteable, iid] = [Number(m[1]), m[2] as FakeNote["noteable"], Number(m[3])];
      if (r.method === "POST") return [201, this.#toApi(this.#create(projectId, noteable, iid, b))];
      if (r.method !== "GET") return [405, { message: "405 Method Not Allowed" }];
      const desc = r.query.get("sort") !== "asc";
      const list = this.notes.filter((n) => !n.deleted && n.projectId === projectId && n.noteable === noteable && n.iid === iid).sort((x, y) => (desc ? y.id - x.id : x.id - y.id));
      const perPage = Number(r.query.get("per_page") ?? 20);
      const page = Number(r.query.get("page") ?? 1);
      return [200, list.slice((page - 1) * perPage, page * perPage).map((n) => this.#toApi(n))];
    }
    if ((m = /^\/projects\/(\d+)\/(merge_requests|issues)\/(\d+)\/notes\/(\d+)$/.exec(p)) && r.method === "DELETE") {
      const note = this.notes.find((n) => !n.deleted && n.projectId === Number(m![1]) && n.noteable === m![2] && n.iid === Number(m![3]) && n.id === Number(m![4]));
      if (!note) return [404, { message: "404 Note Not Found" }];
      note.deleted = true;
      return [204, undefined];
    }
    return [404, { message: `fake GitLab has no route for ${r.method} ${p}` }];
  }
}
