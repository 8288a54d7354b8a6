import { createHash, randomBytes } from "node:crypto";
import { parseRequestBody } from "./fake-github.js";
import { createServer, type Server } from "node:http";
import { fakeDiffLines } from "./fake-diff.js";
import { gitlabPublishRoute, type FakeMergeRequestOpened, type GitLabPublishState } from "./fake-gitlab-publish.js";
import type { FakeRepo } from "./fake-repo.js";
import { closeServer, listenOnLoopback } from "./loopback.js";

/**
 * A small in-memory GitLab REST API (v4) for tests, behind nock (see nock-gitlab.ts). It keeps
 * notes and discussions with GitLab's rules that matter to us: a reply in a discussion inherits
 * the discussion's internal flag, a discussion that is gone answers 404, deleting a deleted note
 * answers 404, and requests without the right `PRIVATE-TOKEN` answer 401. It also plays
 * GitLab's OAuth authorization-code flow with PKCE for sign-in (`/oauth/authorize`,
 * `/oauth/token`, `GET /api/v4/user` with the user token, `/oauth/revoke`): the authorize page
 * answers at once, as `oauthUser`, or declines when that is null.
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
  /** Diff notes: where on the diff (as the draft's position said). */
  position?: Record<string, unknown> | null;
};

export type GitLabRequest = { method: string; path: string; query: URLSearchParams; body: unknown; token: string | undefined; at: number; authorization?: string | undefined };

export type FakeGitLabUser = { id: number; username: string; state?: string; external?: boolean };
/** A file of a merge request's diff, as `GET …/diffs` serves it. */
export type FakeDiff = { old_path: string; new_path: string; diff: string; new_file?: boolean; deleted_file?: boolean; renamed_file?: boolean; too_large?: boolean; generated_file?: boolean };
export type FakeDiffRefs = { base_sha: string; start_sha: string; head_sha: string };

/** A merge request the review reads: its latest diff version, earlier versions, and its commits. */
export type FakeMergeRequest = {
  title: string;
  description: string;
  diffRefs: FakeDiffRefs;
  diffs: FakeDiff[];
  /** Earlier diff versions by head SHA: positions on them are still accepted (outdated). A version force-pushed away is left out. */
  earlier?: Record<string, { diffRefs: FakeDiffRefs; diffs: FakeDiff[] }>;
  /** The merge request's commit SHAs, newest first (default: the head). */
  commits?: string[];
};

export type FakeDraftNote = { id: number; projectId: number; iid: number; authorId: number; note: string; position: Record<string, unknown> | null };

/** Return a [status, body, headers?] to answer instead of the fake's own handling. */
export type GitLabInterceptor = (req: GitLabRequest) => [number, unknown, Record<string, string>?] | undefined;

export const FAKE_GITLAB_TOKEN = "glpat-test-token";

export function discussionId(): string {
  return randomBytes(20).toString("hex");
}

export class FakeGitLab {
  readonly notes: FakeNote[] = [];
  readonly requests: GitLabRequest[] = [];
  /** Requests that matched no endpoint this fake serves (all of which GitLab documents). */
  readonly unrouted: string[] = [];
  interceptors: GitLabInterceptor[] = [];
  bot = { id: 990, username: "forgebot" };
  /** user id → access level; absent users get `defaultAccessLevel`, level 0 means "not a member" (404). */
  members = new Map<number, number>();
  defaultAccessLevel = 30;
  token = FAKE_GITLAB_TOKEN;
  /** What `GET /personal_access_tokens/self` says the token may do; null answers 404 (GitLab before 15.5). */
  tokenScopes: string[] | null = ["api"];
  /** The OAuth application (GITLAB_OAUTH_CLIENT_ID / GITLAB_OAUTH_CLIENT_SECRET). */
  oauthClient = { id: "fake-gitlab-app", secret: "fake-gitlab-secret" };
  /** Who the authorize page signs in; null declines (`error=access_denied`). */
  oauthUser: FakeGitLabUser | null = { id: 4001, username: "alice" };
  readonly oauthCodes = new Map<string, { user: FakeGitLabUser; redirectUri: string; challenge: string; used: boolean }>();
  readonly oauthTokens = new Map<string, FakeGitLabUser>();
  readonly revokedTokens: string[] = [];
  /** Merge requests by `${projectId}!${iid}`. */
  mergeRequests = new Map<string, FakeMergeRequest>();
  /** `GET /projects/:id/repository/compare` answers by `${projectId}:${from}..${to}`. */
  compares = new Map<string, FakeDiff[]>();
  /** Repository files by path (any ref), for raw file reads. */
  files = new Map<string, string>();
  readonly drafts: FakeDraftNote[] = [];
  /** Set by `start()`: the fake served on loopback, for forgebot processes nock cannot reach. */
  url = "";
  #server: Server | null = null;
  /** Repository archives (gzipped tarballs) by commit sha. */
  archives = new Map<string, Buffer>();
  defaultBranch = "main";
  branchHeads = new Map<string, string>();
  /** Merge requests a change session reads, by iid: their head commit and source branch (reviews use `mergeRequests`). */
  changeHeads = new Map<number, { sha: string; sourceBranch: string; title?: string }>();
  /** The project publishing writes to (its branches, commits, archives); null: no publishing endpoints. */
  repo: FakeRepo | null = null;
  projectId = 5;
  projectPath = "gitlab-org/gitlab-test";
  /** Merge requests a test registers (a thread to mention in) or the bot opens through the API. */
  readonly openedMergeRequests: FakeMergeRequestOpened[] = [];
  /** The iid the next merge request opened through the API gets. */
  nextIid = 300;
  #nextId = 50_000;

  /** Serves the fake on 127.0.0.1 (for a worker in another process); `url` is its GITLAB_URL. */
  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const token = req.headers["private-token"];
        const [status, body, headers] = this.respond(req.method ?? "GET", req.url ?? "/", Buffer.concat(chunks).toString("utf8"), Array.isArray(token) ? token[0] : token);
        if (body === undefined) {
          res.writeHead(status, headers ?? {});
          res.end();
          return;
        }
        if (Buffer.isBuffer(body)) {
          res.writeHead(status, { "content-length": String(body.length), ...(headers ?? {}) });
          res.end(body);
          return;
        }
        const text = typeof body === "string";
        res.writeHead(status, { "content-type": text ? "text/plain" : "application/json", ...(headers ?? {}) });
        res.end(text ? body : JSON.stringify(body));
      });
    });
    const port = await listenOnLoopback(this.#server);
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.#server);
  }

  /** Notes the bot published as a review (diff notes and the summary), live ones. */
  reviewNotes(iid?: number): FakeNote[] {
    return this.botNotes({ live: true, ...(iid === undefined ? {} : { iid }) }).filter((n) => n.body.includes("forgebot:review"));
  }

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

  /** Writes to projects (sign-in requests left out). */
  writes(): GitLabRequest[] {
    return this.requests.filter((r) => r.method !== "GET" && !r.path.startsWith("/oauth/"));
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
      ...(n.position ? { position: n.position } : {}),
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
  respond(method: string, pathAndQuery: string, text: string, token: string | undefined, authorization?: string): [number, unknown, Record<string, string>?] {
    const url = new URL(pathAndQuery, "https://gitlab.example.com");
    const body = parseRequestBody(text);
    const req: GitLabRequest = { method, path: url.pathname.replace(/^\/api\/v4/, ""), query: url.searchParams, body, token, at: Date.now(), authorization };
    this.requests.push(req);
    for (const intercept of this.interceptors) {
      const answer = intercept(req);
      if (answer) return answer;
    }
    const oauth = this.#oauth(req, url.pathname);
    if (oauth) return oauth;
    if (token !== this.token) return [401, { message: "401 Unauthorized" }];
    return this.#route(req);
  }

  /** GitLab's OAuth flow with PKCE, as far as sign-in uses it; null for any other request. */
  #oauth(r: GitLabRequest, fullPath: string): [number, unknown, Record<string, string>?] | null {
    const q = r.query;
    if (r.method === "GET" && fullPath === "/oauth/authorize") {
      const redirectUri = q.get("redirect_uri") ?? "";
      if (q.get("client_id") !== this.oauthClient.id || !redirectUri) return [404, { message: "unknown OAuth application" }];
      const back = new URL(redirectUri);
      back.searchParams.set("state", q.get("state") ?? "");
      const challenge = q.get("code_challenge") ?? "";
      if (q.get("response_type") !== "code" || !(q.get("scope") ?? "").split(" ").includes("read_user") || q.get("code_challenge_method") !== "S256" || !challenge) {
        back.searchParams.set("error", "invalid_request");
      } else if (this.oauthUser === null) {
        back.searchParams.set("error", "access_denied");
      } else {
        const code = randomBytes(10).toString("hex");
        this.oauthCodes.set(code, { user: this.oauthUser, redirectUri, challenge, used: false });
        back.searchParams.set("code", code);
      }
      return [302, undefined, { location: back.toString() }];
    }
    if (r.method === "POST" && fullPath === "/oauth/token") {
      const b = (r.body ?? {}) as Record<string, string>;
      if (b.client_id !== this.oauthClient.id || b.client_secret !== this.oauthClient.secret) return [401, { error: "invalid_client" }];
      const issued = this.oauthCodes.get(b.code ?? "");
      const verifier = createHash("sha256").update(b.code_verifier ?? "").digest("base64url");
      if (b.grant_type !== "authorization_code" || !issued || issued.used || issued.redirectUri !== b.redirect_uri || verifier !== issued.challenge) {
        return [400, { error: "invalid_grant", error_description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client." }];
      }
      issued.used = true;
      const token = `glo_${randomBytes(12).toString("hex")}`;
      this.oauthTokens.set(token, issued.user);
      return [200, { access_token: token, token_type: "Bearer", expires_in: 7200, refresh_token: "r", scope: "read_user", created_at: 1 }];
    }
    if (r.method === "POST" && fullPath === "/oauth/revoke") {
      const b = (r.body ?? {}) as Record<string, string>;
      if (b.client_id === this.oauthClient.id && b.client_secret === this.oauthClient.secret && this.oauthTokens.delete(b.token ?? "")) this.revokedTokens.push(b.token ?? "");
      return [200, {}];
    }
    const bearer = /^bearer\s+(\S+)$/i.exec(r.authorization ?? "")?.[1];
    if (r.method === "GET" && r.path === "/user" && bearer) {
      const user = this.oauthTokens.get(bearer);
      return user ? [200, { id: user.id, username: user.username, name: user.username, state: user.state ?? "active", external: user.external ?? false }] : [401, { message: "401 Unauthorized" }];
    }
    return null;
  }

  #publishState(): GitLabPublishState | null {
    if (!this.repo) return null;
    return { repo: this.repo, projectId: this.projectId, projectPath: this.projectPath, mergeRequests: this.openedMergeRequests, nextIid: () => this.nextIid++, shapeRefusals: this.#shapeRefusals };
  }

  readonly #shapeRefusals: string[] = [];

  /** Publishing requests refused for attributes GitLab does not document. */
  shapeRefusals(): string[] {
    return [...this.#shapeRefusals];
  }

  /** Merge requests the bot opened. */
  botMergeRequests(): FakeMergeRequestOpened[] {
    return this.openedMergeRequests.filter((mr) => mr.byBot);
  }

  #route(r: GitLabRequest): [number, unknown, Record<string, string>?] {
    const p = r.path;
    const b = (r.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (r.method === "GET" && p === "/user") return [200, { ...this.bot, name: "forgebot", state: "active", bot: false }];
    if (r.method === "GET" && p === "/personal_access_tokens/self") {
      return this.tokenScopes ? [200, { id: 77, name: "forgebot", revoked: false, active: true, scopes: this.tokenScopes, user_id: this.bot.id, expires_at: null }] : [404, { message: "404 Not Found" }];
    }
    const published = gitlabPublishRoute(this.#publishState(), r);
    if (published) return published;
    const review = this.#reviewRoute(r, p, b);
    if (review) return review;
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/archive\.tar\.gz$/.exec(p))) {
      const archive = this.archives.get(r.query.get("sha") ?? "");
      return archive ? [200, archive, { "content-type": "application/x-gzip" }] : [404, { message: "404 Commit Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/branches\/([^/]+)$/.exec(p))) {
      const sha = this.branchHeads.get(decodeURIComponent(m[2]!));
      return sha ? [200, { name: decodeURIComponent(m[2]!), commit: { id: sha } }] : [404, { message: "404 Branch Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/merge_requests\/(\d+)$/.exec(p)) && this.changeHeads.has(Number(m[2]))) {
      const mr = this.changeHeads.get(Number(m[2]))!;
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
    this.unrouted.push(`${r.method} ${p}`);
    return [404, { message: `fake GitLab has no route for ${r.method} ${p}` }];
  }

  /** Merge request reads, compare, raw files and draft notes (the review's endpoints). */
  #reviewRoute(r: GitLabRequest, p: string, b: Record<string, unknown>): [number, unknown, Record<string, string>?] | undefined {
    let m: RegExpExecArray | null;
    const page = <T>(items: T[]): [number, unknown] => {
      const perPage = Number(r.query.get("per_page") ?? 20);
      const n = Number(r.query.get("page") ?? 1);
      return [200, items.slice((n - 1) * perPage, n * perPage)];
    };
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/files\/(.+)\/raw$/.exec(p))) {
      const file = this.files.get(decodeURIComponent(m[2]!));
      return file === undefined ? [404, { message: "404 File Not Found" }] : [200, file];
    }
    if (r.method === "GET" && (m = /^\/projects\/(\d+)\/repository\/compare$/.exec(p))) {
      const diffs = this.compares.get(`${m[1]}:${r.query.get("from")}..${r.query.get("to")}`);
      return diffs ? [200, { commit: null, commits: [], diffs, compare_timeout: false, compare_same_ref: false }] : [404, { message: "404 Ref Not Found" }];
    }
    if (!(m = /^\/projects\/(\d+)\/merge_requests\/(\d+)(\/.*)?$/.exec(p))) return undefined;
    const [projectId, iid, rest] = [Number(m[1]), Number(m[2]), m[3] ?? ""];
    const mr = this.mergeRequests.get(`${projectId}!${iid}`);
    if (!mr && this.changeHeads.has(iid)) return undefined;
    if (!mr && (rest === "" || rest === "/diffs" || rest === "/commits" || rest.startsWith("/draft_notes"))) return [404, { message: "404 Not found" }];
    if (!mr) return undefined;
    if (r.method === "GET" && rest === "") {
      return [200, { iid, title: mr.title, description: mr.description, web_url: `https://gitlab.example.com/group/project/-/merge_requests/${iid}`, sha: mr.diffRefs.head_sha, source_branch: "feature", diff_refs: mr.diffRefs }];
    }
    if (r.method === "GET" && rest === "/diffs") return page(mr.diffs);
    if (r.method === "GET" && rest === "/commits") return page((mr.commits ?? [mr.diffRefs.head_sha]).map((id) => ({ id, short_id: id.slice(0, 8) })));
    const drafts = (d: FakeDraftNote) => d.projectId === projectId && d.iid === iid && d.authorId === this.bot.id;
    if (r.method === "GET" && rest === "/draft_notes") return page(this.drafts.filter(drafts).map((d) => ({ id: d.id, author_id: d.authorId, note: d.note, position: d.position })));
    if (r.method === "POST" && rest === "/draft_notes") {
      if (typeof b.note !== "string" || !b.note) return [400, { message: "400 Bad request - note is missing" }];
      const position = (b.position ?? null) as Record<string, unknown> | null;
      const refused = position ? this.#invalidPosition(mr, position) : null;
      if (refused) return [400, { message: `400 Bad request - Note {:validate_position=>["${refused}"]}` }];
      const draft: FakeDraftNote = { id: this.#nextId++, projectId, iid, authorId: this.bot.id, note: b.note, position };
      this.drafts.push(draft);
      return [201, { id: draft.id, author_id: draft.authorId, note: draft.note, position: draft.position }];
    }
    if (r.method === "DELETE" && (m = /^\/draft_notes\/(\d+)$/.exec(rest))) {
      const i = this.drafts.findIndex((d) => drafts(d) && d.id === Number(m![1]));
      if (i < 0) return [404, { message: "404 Not found" }];
      this.drafts.splice(i, 1);
      return [204, undefined];
    }
    if (r.method === "POST" && rest === "/draft_notes/bulk_publish") {
      const publishing = this.drafts.filter(drafts);
      for (const d of publishing) {
        const note = this.#create(projectId, "merge_requests", iid, { body: d.note });
        if (d.position) {
          note.type = "DiffNote";
          note.position = d.position;
        }
        this.drafts.splice(this.drafts.indexOf(d), 1);
      }
      return [204, undefined];
    }
    return undefined;
  }

  /**
   * Why GitLab would refuse a diff note's position, or null: the three SHAs of a diff version of
   * the merge request, `position_type: text`, the paths of one of its files, `new_line` for an
   * added line, `old_line` for a removed one, both for a context line, and a `line_range` whose
   * line codes (`sha1(path)_old_new`) and types name lines of one hunk ending on that line.
   */
  #invalidPosition(mr: FakeMergeRequest, position: Record<string, unknown>): string | null {
    const allowed = ["base_sha", "start_sha", "head_sha", "position_type", "new_path", "old_path", "new_line", "old_line", "line_range"];
    const extra = Object.keys(position).filter((k) => !allowed.includes(k));
    if (extra.length) return `unknown position fields: ${extra.join(", ")}`;
    const versions = [{ diffRefs: mr.diffRefs, diffs: mr.diffs }, ...Object.values(mr.earlier ?? {})];
    const version = versions.find((v) => v.diffRefs.base_sha === position.base_sha && v.diffRefs.start_sha === position.start_sha && v.diffRefs.head_sha === position.head_sha);
    if (!version) return "base_sha, start_sha and head_sha do not match a diff version";
    if (position.position_type !== "text") return "position_type must be text";
    const diff = version.diffs.find((d) => d.new_path === position.new_path && d.old_path === position.old_path);
    if (!diff) return "new_path and old_path do not match a file of the diff";
    const lines = fakeDiffLines(diff.diff);
    const newLine = position.new_line ?? null;
    const oldLine = position.old_line ?? null;
    const line = lines.find((l) => l.new === newLine && l.old === oldLine);
    if (!line) return "must be a valid line code";
    const range = position.line_range as { start?: Record<string, unknown>; end?: Record<string, unknown> } | undefined;
    if (range === undefined) return null;
    const hash = createHash("sha1").update(String(position.new_path)).digest("hex");
    const point = (p: Record<string, unknown> | undefined) => {
      if (!p || Object.keys(p).some((k) => k !== "line_code" && k !== "type")) return undefined;
      return lines.find((l) => `${hash}_${l.oldPos}_${l.newPos}` === p.line_code && (l.kind === "+" ? "new" : "old") === p.type);
    };
    const start = point(range.start);
    const end = point(range.end);
    if (!start || !end) return "line_range must name lines of the diff by line_code and type";
    if (end !== line || start.hunk !== end.hunk || lines.indexOf(start) > lines.indexOf(end)) return "line_range must end on the position's line, inside one hunk";
    return null;
  }
}
