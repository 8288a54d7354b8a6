import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fakeDiffLines } from "./fake-diff.js";
import { publishRoute, type FakePull, type PublishState } from "./fake-github-publish.js";
import type { FakeRepo } from "./fake-repo.js";
import { closeServer, listenOnLoopback } from "./loopback.js";

/**
 * A small in-memory GitHub (REST under /api/v3, as on GHES) on 127.0.0.1, for tests that run
 * forgebot in another process (where nock cannot reach) and for benchmarks. It keeps comments,
 * answers permission checks and lets a test inject faults or observe each request. It also
 * plays GitHub's OAuth web flow for sign-in (`/login/oauth/authorize`, `/login/oauth/access_token`,
 * `GET /user` with the user token, `DELETE /applications/{client_id}/token`): the authorize page
 * answers at once, as `oauthUser`, or declines when that is null. And it plays the GitHub App
 * manifest flow the setup page starts (`/settings/apps/new`, `/app-manifests/{code}/conversions`).
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

export type FakeFile = { filename: string; status: string; patch?: string; previous_filename?: string; changes?: number };

/** An issue or pull request the agent's read tools can fetch. */
export type FakeThread = {
  title: string;
  body: string;
  author: string;
  /** Pull requests: head commit and changed files (`patch` is the unified diff hunk text). */
  headSha?: string;
  baseSha?: string;
  files?: FakeFile[];
  /**
   * Earlier heads still part of the pull request, with their files: a review may be posted on
   * one of them (`commit_id`). A head force-pushed away is left out: GitHub refuses it (422).
   */
  earlier?: Record<string, FakeFile[]>;
};

export type RecordedRequest = { method: string; path: string; body: unknown; at: number; query?: string; headers?: Record<string, string | undefined> };

export type FakeOAuthUser = { id: number; login: string };

/** The request body as JSON, else as a form (OAuth token requests are form-encoded). */
export function parseRequestBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return Object.fromEntries(new URLSearchParams(text));
  }
}
/** A review comment as GitHub stores it. */
export type FakeReviewComment = { id: number; path: string; body: string; line: number; side: string; start_line: number | null; start_side: string | null; html_url: string };

export type FakeReview = { id: number; repo: string; number: number; body: string; event: string; commitId: string; comments: FakeReviewComment[]; html_url: string };

/** A GitHub App the manifest flow created: what the conversion answered, secrets included. */
export type FakeCreatedApp = { id: number; slug: string; owner: string; manifest: Record<string, unknown>; pem: string; webhookSecret: string; clientId: string; clientSecret: string; htmlUrl: string };

/** The manifest parameters GitHub documents; anything else is refused, as a typo would be. */
const MANIFEST_KEYS = ["name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description", "public", "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update"];

/** [status, body, headers?]: what the fake answers. */
export type Answer = [number, unknown] | [number, unknown, Record<string, string>];
/** Return an Answer to answer instead of the fake's own handling. */
export type Interceptor = (req: RecordedRequest) => Answer | undefined | Promise<Answer | undefined>;

export class FakeGitHub {
  readonly comments: FakeComment[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Requests that matched no endpoint this fake serves (all of which GitHub documents). */
  readonly unrouted: string[] = [];
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
  /** The GitHub App's OAuth client (GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET). */
  oauthClient = { id: "Iv1.fakeclient", secret: "fake-client-secret" };
  /** Who the authorize page signs in; null declines (`error=access_denied`). */
  oauthUser: FakeOAuthUser | null = { id: 21031067, login: "Codertocat" };
  /** Issued codes and user tokens; revoked tokens are removed and listed. */
  readonly oauthCodes = new Map<string, { user: FakeOAuthUser; redirectUri: string; used: boolean }>();
  readonly oauthTokens = new Map<string, FakeOAuthUser>();
  readonly revokedTokens: string[] = [];
  /** Reviews posted through `POST …/pulls/{n}/reviews`. */
  readonly reviews: FakeReview[] = [];
  /** `GET …/compare/{base}...{head}` answers by `${repo}:${base}...${head}`. */
  compares = new Map<string, { status: string; files: FakeFile[] }>();
  /** Repository archives (gzipped tarballs) by commit sha, served through the tarball redirect. */
  archives = new Map<string, Buffer>();
  defaultBranch = "main";
  /** Head commit of each branch (the default branch's is what an issue's change session starts from). */
  branchHeads = new Map<string, string>();
  /** Where the tarball redirect points: GitHub's codeload; this fake serves it itself. */
  downloadOrigin = "https://api.github.com";
  /** The account `…/settings/apps/new` creates apps for (an organization's path names its own). */
  manifestOwner = "Codertocat";
  /** Manifest flow codes: each names the manifest posted, exchanged once by the conversion. */
  readonly manifestCodes = new Map<string, { manifest: Record<string, unknown>; owner: string; organization: boolean; used: boolean }>();
  /** Apps the conversions created, in order. */
  readonly createdApps: FakeCreatedApp[] = [];
  /**
   * The repository publishing writes to (`Codertocat/Hello-World` unless `repoPath` says
   * otherwise): its branches, commits, archives. Without it publishing endpoints answer 404.
   */
  repo: FakeRepo | null = null;
  repoPath = "Codertocat/Hello-World";
  repoId = 186853002;
  /** Pull requests: registered by a test (a thread to mention in) or opened through the API. */
  readonly pulls: FakePull[] = [];
  /** False: the plan offers no draft pull requests. */
  draftPullRequests = true;
  /** The number the next pull request opened through the API gets. */
  nextPullNumber = 900;
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

  /** Writes to repositories (app token, sign-in and app registration requests left out). */
  writes(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method !== "GET" && !r.path.includes("/access_tokens") && !r.path.startsWith("/login/oauth/") && !/\/applications\/[^/]+\/token$/.test(r.path) && !/settings\/apps\/new$|^(\/api\/v3)?\/app-manifests\//.test(r.path),
    );
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const [status, body, headers] = await this.respond(req.method ?? "GET", req.url ?? "/", Buffer.concat(chunks).toString("utf8"), req.headers as Record<string, string | undefined>);
    send(res, status, body, headers);
  }

  /** Answers one request; also the reply function behind nock interceptors (see nock-github.ts). */
  async respond(method: string, pathAndQuery: string, text: string, headers: Record<string, string | undefined> = {}): Promise<Answer> {
    const url = new URL(pathAndQuery, "http://127.0.0.1");
    const recorded: RecordedRequest = { method, path: url.pathname, body: parseRequestBody(text), at: Date.now(), query: url.search, headers };
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

  /** GitHub's OAuth web flow, as far as sign-in uses it; null for any other request. */
  #oauth(r: RecordedRequest, url: URL, p: string): Answer | null {
    const q = url.searchParams;
    if (r.method === "GET" && r.path === "/login/oauth/authorize") {
      const redirectUri = q.get("redirect_uri") ?? "";
      if (q.get("client_id") !== this.oauthClient.id || !redirectUri) return [404, { message: "unknown OAuth application" }];
      const back = new URL(redirectUri);
      if (this.oauthUser === null) {
        back.searchParams.set("error", "access_denied");
        back.searchParams.set("error_description", "The user has denied your application access.");
      } else {
        const code = randomBytes(10).toString("hex");
        this.oauthCodes.set(code, { user: this.oauthUser, redirectUri, used: false });
        back.searchParams.set("code", code);
      }
      back.searchParams.set("state", q.get("state") ?? "");
      return [302, undefined, { location: back.toString() }];
    }
    if (r.method === "POST" && r.path === "/login/oauth/access_token") {
      const b = (r.body ?? {}) as Record<string, string>;
      if (b.client_id !== this.oauthClient.id || b.client_secret !== this.oauthClient.secret) return [200, { error: "incorrect_client_credentials" }];
      const issued = this.oauthCodes.get(b.code ?? "");
      if (!issued || issued.used) return [200, { error: "bad_verification_code", error_description: "The code passed is incorrect or expired." }];
      if (b.redirect_uri !== issued.redirectUri) return [200, { error: "redirect_uri_mismatch" }];
      issued.used = true;
      const token = `ghu_${randomBytes(12).toString("hex")}`;
      this.oauthTokens.set(token, issued.user);
      return [200, { access_token: token, token_type: "bearer", scope: "" }];
    }
    if (r.method === "GET" && p === "/user") {
      const token = /^(?:bearer|token)\s+(\S+)$/i.exec(r.headers?.authorization ?? "")?.[1];
      const user = token ? this.oauthTokens.get(token) : undefined;
      return user ? [200, { login: user.login, id: user.id, type: "User" }] : [401, { message: "Bad credentials" }];
    }
    const revoke = /^\/applications\/([^/]+)\/token$/.exec(p);
    if (r.method === "DELETE" && revoke) {
      const basic = Buffer.from((r.headers?.authorization ?? "").replace(/^basic\s+/i, ""), "base64").toString("utf8");
      if (decodeURIComponent(revoke[1]!) !== this.oauthClient.id || basic !== `${this.oauthClient.id}:${this.oauthClient.secret}`) return [404, { message: "Not Found" }];
      const token = String((r.body as { access_token?: string } | undefined)?.access_token ?? "");
      if (!this.oauthTokens.delete(token)) return [404, { message: "Not Found" }];
      this.revokedTokens.push(token);
      return [204, undefined];
    }
    return null;
  }

  /**
   * The manifest flow: `POST /settings/apps/new?state=` (or an organization's) takes the form's
   * `manifest` and, as if the person pressed "Create GitHub App" at once, sends the browser to its
   * `redirect_url` with a code and the state; `POST /app-manifests/{code}/conversions` answers the
   * new app's credentials (a freshly generated private key) once. Null for any other request.
   */
  #manifestFlow(r: RecordedRequest, url: URL, p: string): Answer | null {
    const newApp = /^\/(?:organizations\/([^/]+)\/)?settings\/apps\/new$/.exec(p);
    if (r.method === "POST" && newApp) {
      const raw = (r.body as Record<string, unknown> | undefined)?.manifest;
      let manifest: Record<string, unknown>;
      try {
        manifest = JSON.parse(String(raw)) as Record<string, unknown>;
      } catch {
        return [422, { message: "the manifest field is not JSON" }];
      }
      const unknownKeys = Object.keys(manifest).filter((k) => !MANIFEST_KEYS.includes(k));
      if (unknownKeys.length) return [422, { message: `unknown manifest keys: ${unknownKeys.join(", ")}` }];
      if (typeof manifest.url !== "string" || typeof manifest.redirect_url !== "string" || typeof manifest.name !== "string") return [422, { message: "the manifest needs name, url and redirect_url" }];
      const code = randomBytes(10).toString("hex");
      this.manifestCodes.set(code, { manifest, owner: newApp[1] ? decodeURIComponent(newApp[1]) : this.manifestOwner, organization: Boolean(newApp[1]), used: false });
      const back = new URL(manifest.redirect_url);
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      return [302, undefined, { location: back.toString() }];
    }
    const conversion = /^\/app-manifests\/([^/]+)\/conversions$/.exec(p);
    if (r.method === "POST" && conversion) {
      const issued = this.manifestCodes.get(decodeURIComponent(conversion[1]!));
      if (!issued || issued.used) return [404, { message: "Not Found", documentation_url: "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest" }];
      issued.used = true;
      const id = 900_000 + this.createdApps.length + 1;
      const slug = String(issued.manifest.name).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
      const app: FakeCreatedApp = {
        id,
        slug,
        owner: issued.owner,
        manifest: issued.manifest,
        pem: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
        webhookSecret: randomBytes(20).toString("hex"),
        clientId: `Iv23li${randomBytes(7).toString("hex")}`,
        clientSecret: randomBytes(20).toString("hex"),
        htmlUrl: `http://127.0.0.1:${this.port}/apps/${slug}`,
      };
      this.createdApps.push(app);
      // The new app is the one this GitHub now answers as: its slug, and its OAuth client for sign-in.
      this.slug = slug;
      this.oauthClient = { id: app.clientId, secret: app.clientSecret };
      return [
        201,
        {
          id,
          slug,
          node_id: `A_kwHO${id}`,
          owner: { login: app.owner, id: 1, type: issued.organization ? "Organization" : "User" },
          name: issued.manifest.name,
          description: issued.manifest.description ?? "",
          external_url: issued.manifest.url,
          html_url: app.htmlUrl,
          created_at: new Date().toISOString(),
          updated_at: new Date().toISOString(),
          permissions: issued.manifest.default_permissions ?? {},
          events: issued.manifest.default_events ?? [],
          client_id: app.clientId,
          client_secret: app.clientSecret,
          webhook_secret: app.webhookSecret,
          pem: app.pem,
        },
      ];
    }
    return null;
  }

  #publishState(): PublishState | null {
    if (!this.repo) return null;
    return {
      repo: this.repo,
      repoPath: this.repoPath,
      repoId: this.repoId,
      pulls: this.pulls,
      slug: this.slug,
      draftPullRequests: this.draftPullRequests,
      nextPull: () => this.nextPullNumber++,
      downloadOrigin: () => this.downloadOrigin,
      shapeRefusals: this.#shapeRefusals,
    };
  }

  readonly #shapeRefusals: string[] = [];

  /** Publishing requests refused for fields GitHub does not document. */
  shapeRefusals(): string[] {
    return [...this.#shapeRefusals];
  }

  /** Pull requests forgebot opened. */
  openedPulls(): FakePull[] {
    return this.pulls.filter((p) => p.byBot);
  }

  #route(r: RecordedRequest, url: URL): Answer {
    const p = r.path.replace(/^\/api\/v3/, "");
    const oauth = this.#oauth(r, url, p);
    if (oauth) return oauth;
    const manifestFlow = this.#manifestFlow(r, url, p);
    if (manifestFlow) return manifestFlow;
    const published = publishRoute(this.#publishState(), r, p, url);
    if (published) return published;
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
      const refs = { head: { sha: thread.headSha ?? "headsha", ref: "feature" }, base: { sha: thread.baseSha ?? "basesha", ref: "main" } };
      return [200, m[2] === "pulls" ? { ...base, ...refs } : base];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/files$/.exec(p))) {
      const thread = this.threads.get(`${m[1]}#${m[2]}`);
      return thread ? paginate(p, url, thread.files ?? []) : [404, { message: "Not Found" }];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/compare\/([0-9a-zA-Z_-]+)\.\.\.([0-9a-zA-Z_-]+)$/.exec(p))) {
      const found = this.compares.get(`${m[1]}:${m[2]}...${m[3]}`);
      return found ? [200, { status: found.status, ahead_by: 1, behind_by: 0, total_commits: 1, commits: [], files: found.files }] : [404, { message: "Not Found" }];
    }
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/reviews$/.exec(p))) {
      const [repo, number] = [m[1]!, Number(m[2])];
      if (r.method === "POST") return this.#createReview(repo, number, r.body);
      return [200, this.reviews.filter((v) => v.repo === repo && v.number === number).map((v) => this.#reviewApi(v))];
    }
    if (r.method === "GET" && (m = /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/reviews\/(\d+)\/comments$/.exec(p))) {
      const review = this.reviews.find((v) => v.repo === m![1] && v.number === Number(m![2]) && v.id === Number(m![3]));
      return review ? [200, review.comments.map((c) => ({ ...c, pull_request_review_id: review.id, commit_id: review.commitId, user: { login: `${this.slug}[bot]`, type: "Bot" } }))] : [404, { message: "Not Found" }];
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
    this.unrouted.push(`${r.method} ${p}`);
    return [404, { message: `fake GitHub has no route for ${r.method} ${p}` }];
  }

  #reviewApi(v: FakeReview) {
    return { id: v.id, body: v.body, state: "COMMENTED", commit_id: v.commitId, html_url: v.html_url, user: { login: `${this.slug}[bot]`, id: 1, type: "Bot" } };
  }

  /**
   * `POST /repos/{owner}/{repo}/pulls/{n}/reviews` with GitHub's rules: documented fields only,
   * a known `event`, a body for COMMENT, a `commit_id` of the pull request, and every comment on
   * a line its diff shows (a range inside one hunk); anything else fails the whole review with 422.
   */
  #createReview(repo: string, number: number, raw: unknown): [number, unknown] {
    const thread = this.threads.get(`${repo}#${number}`);
    if (!thread) return [404, { message: "Not Found" }];
    const invalid = (error: string): [number, unknown] => [422, { message: "Unprocessable Entity", errors: [error], documentation_url: "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request" }];
    const body = (raw ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(body).filter((k) => !["commit_id", "body", "event", "comments"].includes(k));
    if (unknown.length) return invalid(`unknown fields: ${unknown.join(", ")}`);
    const event = String(body.event ?? "");
    if (!["APPROVE", "REQUEST_CHANGES", "COMMENT"].includes(event)) return invalid("event is not one of APPROVE, REQUEST_CHANGES, COMMENT");
    if (event !== "APPROVE" && !(typeof body.body === "string" && body.body)) return invalid("Body is required for this event");
    const head = thread.headSha ?? "headsha";
    const commitId = typeof body.commit_id === "string" ? body.commit_id : head;
    const files = commitId === head ? thread.files ?? [] : thread.earlier?.[commitId];
    if (!files) return invalid("commit_id is not part of the pull request");
    const comments = Array.isArray(body.comments) ? (body.comments as Record<string, unknown>[]) : [];
    const stored: FakeReviewComment[] = [];
    for (const c of comments) {
      const extra = Object.keys(c).filter((k) => !["path", "body", "line", "side", "start_line", "start_side"].includes(k));
      if (extra.length) return invalid(`comment has unknown fields: ${extra.join(", ")}`);
      const file = files.find((f) => f.filename === c.path);
      if (!file || typeof c.body !== "string" || typeof c.line !== "number") return invalid("Path could not be resolved");
      const side = String(c.side ?? "RIGHT");
      const startSide = c.start_line === undefined ? null : String(c.start_side ?? side);
      const lines = fakeDiffLines(file.patch);
      const at = (n: unknown, on: string) => lines.find((l) => (on === "LEFT" ? l.old : l.new) === n && (on === "LEFT" ? l.kind !== "+" : l.kind !== "-"));
      const end = at(c.line, side);
      if (!["LEFT", "RIGHT"].includes(side) || !end) return invalid("Pull request review thread line must be part of the diff");
      if (c.start_line !== undefined) {
        const start = at(c.start_line, startSide ?? side);
        if (!start || !["LEFT", "RIGHT"].includes(startSide ?? "")) return invalid("Pull request review thread start line must be part of the diff");
        if (start.hunk !== end.hunk) return invalid("start_line must be part of the same hunk as the line");
        if (lines.indexOf(start) >= lines.indexOf(end)) return invalid("start_line must precede line");
      }
      const id = this.#nextId++;
      stored.push({ id, path: String(c.path), body: c.body, line: c.line, side, start_line: typeof c.start_line === "number" ? c.start_line : null, start_side: startSide, html_url: `https://github.test/${repo}/pull/${number}#discussion_r${id}` });
    }
    const id = this.#nextId++;
    const review: FakeReview = { id, repo, number, body: String(body.body ?? ""), event, commitId, comments: stored, html_url: `https://github.test/${repo}/pull/${number}#pullrequestreview-${id}` };
    this.reviews.push(review);
    return [200, this.#reviewApi(review)];
  }
}

/** One page of `items` (`per_page`, `page`) with GitHub's `Link` header to the next. */
function paginate(path: string, url: URL, items: unknown[]): Answer {
  const perPage = Number(url.searchParams.get("per_page") ?? 30);
  const page = Number(url.searchParams.get("page") ?? 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  if (page * perPage >= items.length) return [200, slice];
  return [200, slice, { link: `<${path}?per_page=${perPage}&page=${page + 1}>; rel="next"` }];
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
