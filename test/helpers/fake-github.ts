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
  permissions = new Map<string, string>();
  defaultRole = "write";
  slug = "forgebot";
  interceptors: Interceptor[] = [];
  /** Threads by `${repo}#${number}`. */
  threads = new Map<string, FakeThread>();
  /** Repository files by path (any ref), for contents reads. */
  files = new Map<string, string>();
  /** Repository archives (gzipped tarballs) by commit sha, served through the tarball redirect. */
  archives = new Map<string, Buffer>();
  defaultBranch = "main";
  /** Head commit of each branch (the default branch's is what an issue's change session starts from). */
  branchHeads = new Map<string, string>();
  /** Where the tarball redirect points: GitHub's codeload; this fake serves it itself. */
  downloadOrigin = "https://api.github.com";
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
    this.downloadOrigin = `http://127.0.0.1:${this.port}`;
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

  /** Adds a human's comment to a thread (e.g. one edited after the trigger: `updatedAt`). */
  addComment(input: { repo: string; number: number; body: string; author: string; createdAt: string; updatedAt?: string; kind?: FakeComment["kind"]; path?: string }): FakeComment {
    const comment: FakeComment = { id: this.#nextId++, kind: input.kind ?? "issue_comment", repo: input.repo, number: input.number, body: input.body, deleted: false, createdAt: input.createdAt, author: input.author, ...(input.updatedAt ? { updatedAt: input.updatedAt } : {}), ...(input.path ? { path: input.path } : {}) };
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

  #route(r: RecordedRequest, url: URL): Answer {
    const p = r.path.replace(/^\/api\/v3/, "");
    let m: RegExpExecArray | null;
    if (r.method === "GET" && (m = /^\/_codeload\/([0-9a-f]+)$/.exec(p))) {
      const archive = this.archives.get(m[1]!);
      return archive ? [200, archive, { "content-type": "application/x-gzip" }] : [404, { message: "Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/tarball\/([^/]+)$/.exec(p))) {
      if (!this.archives.has(m[2]!)) return [404, { message: "Not Found" }];
      return [302, undefined, { location: `${this.downloadOrigin}/_codeload/${m[2]}` }];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/branches\/([^/]+)$/.exec(p))) {
      const sha = this.branchHeads.get(decodeURIComponent(m[2]!));
      return sha ? [200, { name: m[2], commit: { sha } }] : [404, { message: "Branch not found" }];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+)\/([^/]+)$/.exec(p))) {
      return [200, { id: 1296269, name: m[2], full_name: `${m[1]}/${m[2]}`, default_branch: this.defaultBranch }];
    }
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
      const permission = role === "maintain" ? "write" : role === "triage" ? "read" : role;
      return [200, { permission, role_name: role, user: { login: m[2] } }];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(p))) {
      const [repo, number] = [m[1]!, Number(m[2])];
      if (r.method === "POST") return [201, this.#toApi(this.#create("issue_comment", repo, number, (r.body as { body: string }).body))];
      const since = url.searchParams.get("since");
      const list = this.comments.filter((c) => !c.deleted && c.kind === "issue_comment" && c.repo === repo && c.number === number && (!since || c.createdAt >= since));
      return [200, list.map((c) => this.#toApi(c))];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/comments\/(\d+)\/replies$/.exec(p)) && r.method === "POST") {
      return [201, this.#toApi(this.#create("review_comment", m[1]!, Number(m[2]), (r.body as { body: string }).body, Number(m[3])))];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/comments$/.exec(p)) && r.method === "GET") {
      const list = this.comments.filter((c) => !c.deleted && c.kind === "review_comment" && c.repo === m![1] && c.number === Number(m![2]));
      return [200, list.map((c) => this.#toApi(c))];
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
  if (Buffer.isBuffer(body)) {
    res.writeHead(status, { "content-length": String(body.length), ...headers });
    res.end(body);
    return;
  }
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(text);
}
