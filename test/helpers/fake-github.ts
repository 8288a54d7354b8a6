import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenOnLoopback } from "./loopback.js";

/**
 * A small in-memory GitHub (REST under /api/v3, as on GHES) on 127.0.0.1, for tests that run
 * forgebot in another process (where nock cannot reach) and for benchmarks. It keeps comments,
 * answers permission checks and lets a test inject faults or observe each request.
 */
export type FakeComment = {
  id: number;
  kind: "issue_comment" | "review_comment";
  repo: string;
  number: number;
  body: string;
  inReplyTo?: number;
  deleted: boolean;
  createdAt: string;
  /** A human's comment (default: the bot's own). */
  author?: string;
  updatedAt?: string;
  /** Review comments: the file commented on. */
  path?: string;
};

/** An issue or pull request the agent's read tools can fetch. */
export type FakeThread = {
  title: string;
  body: string;
  author: string;
  /** Pull requests: head commit and changed files (`patch` is the unified diff hunk text). */
  headSha?: string;
  files?: { filename: string; status: string; patch?: string }[];
};

export type RecordedRequest = { method: string; path: string; body: unknown; at: number; query?: string };
/** [status, body, headers?]: what the fake answers. */
export type Answer = [number, unknown] | [number, unknown, Record<string, string>];
/** Return an Answer to answer instead of the fake's own handling. */
export type Interceptor = (req: RecordedRequest) => Answer | undefined | Promise<Answer | undefined>;

export class FakeGitHub {
  readonly comments: FakeComment[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Repository role by login: admin, maintain, write, triage, read, none or a custom role's name. */
  permissions = new Map<string, string>();
  defaultRole = "write";
  /** Custom repository roles: name → the base permission GitHub reports for it. */
  customRoles = new Map<string, string>();
  slug = "forgebot";
  interceptors: Interceptor[] = [];
  /** Threads by `${repo}#${number}`. */
  threads = new Map<string, FakeThread>();
  /** Repository files by path (any ref), for contents reads. */
  files = new Map<string, string>();
  #server: Server | null = null;
  #nextId = 9_000_000;
  port = 0;

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: String(err) }));
      });
    });
    this.port = await listenOnLoopback(this.#server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.#server);
  }

  live(filter: Partial<Pick<FakeComment, "kind" | "number">> = {}): FakeComment[] {
    return this.comments.filter((c) => !c.deleted && (!filter.kind || c.kind === filter.kind) && (filter.number === undefined || c.number === filter.number));
  }

  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== "GET" && !r.path.includes("/access_tokens"));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const [status, body, headers] = await this.respond(req.method ?? "GET", req.url ?? "/", Buffer.concat(chunks).toString("utf8"));
    send(res, status, body, headers);
  }

  /** Answers one request; also the reply function behind nock interceptors (see nock-github.ts). */
  async respond(method: string, pathAndQuery: string, text: string): Promise<Answer> {
    const url = new URL(pathAndQuery, "http://127.0.0.1");
    const recorded: RecordedRequest = { method, path: url.pathname, body: text ? (JSON.parse(text) as unknown) : undefined, at: Date.now(), query: url.search };
    this.requests.push(recorded);
    for (const intercept of this.interceptors) {
      const answer = await intercept(recorded);
      if (answer) return answer;
    }
    return this.#route(recorded, url);
  }

  #toApi(c: FakeComment) {
    return {
      id: c.id,
      body: c.body,
      user: c.author ? { login: c.author, id: 2, type: "User" } : { login: `${this.slug}[bot]`, id: 1, type: "Bot" },
      created_at: c.createdAt,
      updated_at: c.updatedAt ?? c.createdAt,
      ...(c.inReplyTo ? { in_reply_to_id: c.inReplyTo } : {}),
      ...(c.path ? { path: c.path } : {}),
    };
  }

  #create(kind: FakeComment["kind"], repo: string, number: number, body: string, inReplyTo?: number): FakeComment {
    const comment: FakeComment = { id: this.#nextId++, kind, repo, number, body, deleted: false, createdAt: new Date().toISOString(), ...(inReplyTo ? { inReplyTo } : {}) };
    this.comments.push(comment);
    return comment;
  }

  /**
   * Adds a comment to a thread: a human's (e.g. one edited after the trigger: `updatedAt`), or
   * without `author` one the bot wrote earlier.
   */
  addComment(input: { repo: string; number: number; body: string; author?: string; createdAt: string; updatedAt?: string; kind?: FakeComment["kind"]; path?: string; inReplyTo?: number }): FakeComment {
    const comment: FakeComment = {
      id: this.#nextId++,
      kind: input.kind ?? "issue_comment",
      repo: input.repo,
      number: input.number,
      body: input.body,
      deleted: false,
      createdAt: input.createdAt,
      ...(input.author ? { author: input.author } : {}),
      ...(input.updatedAt ? { updatedAt: input.updatedAt } : {}),
      ...(input.path ? { path: input.path } : {}),
      ...(input.inReplyTo ? { inReplyTo: input.inReplyTo } : {}),
    };
    this.comments.push(comment);
    return comment;
  }

  #contents(path: string): [number, unknown] {
    const file = this.files.get(path);
    if (file !== undefined) {
      return [200, { type: "file", name: path.split("/").pop(), path, sha: `sha-${path}`, size: file.length, encoding: "base64", content: Buffer.from(file).toString("base64") }];
    }
    const prefix = path ? `${path}/` : "";
    const entries = new Map<string, "file" | "dir">();
    for (const name of this.files.keys()) {
      if (!name.startsWith(prefix)) continue;
      const [head, ...rest] = name.slice(prefix.length).split("/");
      entries.set(head!, rest.length ? "dir" : entries.get(head!) ?? "file");
    }
    if (entries.size === 0) return [404, { message: "Not Found" }];
    return [200, [...entries].map(([name, type]) => ({ type, name, path: `${prefix}${name}`, sha: `sha-${prefix}${name}` }))];
  }

  /**
   * One page of a list, as GitHub pages (`per_page` up to 100, default 30, `page` from 1), with
   * a `Link: rel="next"` header while more remain. The link is relative, so it resolves against
   * whatever base the client used (nock's api.github.com, this server, or a proxy in front).
   */
  #page(path: string, url: URL, list: FakeComment[]): Answer {
    const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
    const page = Number(url.searchParams.get("page") ?? 1);
    const body = list.slice((page - 1) * perPage, page * perPage).map((c) => this.#toApi(c));
    if (page * perPage >= list.length) return [200, body];
    const next = new URLSearchParams(url.searchParams);
    next.set("page", String(page + 1));
    return [200, body, { link: `<${path}?${next.toString()}>; rel="next"` }];
  }

  #route(r: RecordedRequest, url: URL): Answer {
    const p = r.path.replace(/^\/api\/v3/, "");
    let m: RegExpExecArray | null;
    if (r.method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(p)) {
      return [201, { token: "ghs_faketoken", expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: {}, repository_selection: "all" }];
    }
    if (r.method === "GET" && p === "/app") return [200, { id: 1, slug: this.slug, name: this.slug }];
    if (r.method === "GET" && /^\/repos\/[^/]+\/[^/]+\/installation$/.test(p)) return [200, { id: 4242, app_id: 1 }];
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/(issues|pulls)\/(\d+)$/.exec(p))) {
      const thread = this.threads.get(`${m[1]}#${m[3]}`);
      if (!thread) return [404, { message: "Not Found" }];
      const base = { number: Number(m[3]), title: thread.title, body: thread.body, user: { login: thread.author, type: "User" }, html_url: `https://github.test/${m[1]}/${m[2]}/${m[3]}` };
      return [200, m[2] === "pulls" ? { ...base, head: { sha: thread.headSha ?? "headsha", ref: "feature" } } : base];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/files$/.exec(p))) {
      const thread = this.threads.get(`${m[1]}#${m[2]}`);
      return thread ? [200, thread.files ?? []] : [404, { message: "Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/contents(?:\/(.*))?$/.exec(p))) {
      return this.#contents(decodeURIComponent(m[2] ?? "").replace(/\/+$/, ""));
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/collaborators\/([^/]+)\/permission$/.exec(p))) {
      const role = this.permissions.get(decodeURIComponent(m[2]!)) ?? this.defaultRole;
      const permission = role === "maintain" ? "write" : role === "triage" ? "read" : this.customRoles.get(role) ?? role;
      return [200, { permission, role_name: role, user: { login: m[2] } }];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(p))) {
      const [repo, number] = [m[1]!, Number(m[2])];
      if (r.method === "POST") return [201, this.#toApi(this.#create("issue_comment", repo, number, (r.body as { body: string }).body))];
      const since = url.searchParams.get("since");
      return this.#page(p, url, this.comments.filter((c) => !c.deleted && c.kind === "issue_comment" && c.repo === repo && c.number === number && (!since || c.createdAt >= since)));
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/comments\/(\d+)\/replies$/.exec(p)) && r.method === "POST") {
      return [201, this.#toApi(this.#create("review_comment", m[1]!, Number(m[2]), (r.body as { body: string }).body, Number(m[3])))];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/comments$/.exec(p)) && r.method === "GET") {
      const since = url.searchParams.get("since");
      return this.#page(p, url, this.comments.filter((c) => !c.deleted && c.kind === "review_comment" && c.repo === m![1] && c.number === Number(m![2]) && (!since || c.createdAt >= since)));
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/(issues|pulls)\/comments\/(\d+)$/.exec(p)) && r.method === "DELETE") {
      const kind = m[2] === "issues" ? "issue_comment" : "review_comment";
      const comment = this.comments.find((c) => c.id === Number(m![3]) && c.kind === kind && !c.deleted);
      if (!comment) return [404, { message: "Not Found" }];
      comment.deleted = true;
      return [204, undefined];
    }
    return [404, { message: `fake GitHub has no route for ${r.method} ${p}` }];
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(text);
}
