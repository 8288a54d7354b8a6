import { expect } from "@jest/globals";
import { gitlabPayload } from "../fixtures/gitlab/payloads.js";
import type { TestBot } from "./bot.js";
import { CHANGE_REPO } from "./change-session.js";
import { FakeGitHub, type Interceptor, type RecordedRequest } from "./fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab, type GitLabInterceptor } from "./fake-gitlab.js";
import { FakeRepo } from "./fake-repo.js";
import { signedHeaders } from "./github-app.js";
import { nockGitHub } from "./nock-github.js";
import { FAKE_GITLAB_URL, nockGitLab } from "./nock-gitlab.js";
import { githubExample } from "./payloads.js";

/**
 * One face for both fake forges, so the publishing scenarios (publish-scenarios.ts) are written
 * once and run on GitHub and on GitLab: a repository (FakeRepo), threads to mention in, the
 * bot's replies and notices, the change requests it opened, and faults to inject.
 */

export type ThreadId = { kind: "issue" | "cr"; number: number };
export type Person = { id: number; login: string };

/** A change request as the scenarios check it, on either forge. */
export type OpenedCR = { number: number; title: string; body: string; head: string; base: string; draft: boolean; removeSourceBranch: boolean | null };

/** A forge request as the scenarios match it. */
export type ForgeRequest = { method: string; path: string; body: Record<string, unknown> };

export interface PublishForge {
  readonly name: "github" | "gitlab";
  readonly changeRequestName: string;
  /** `#12` or `!12`. */
  reference(thread: ThreadId): string;
  /** The feature-flag actor that turns change sessions on for the repository. */
  readonly repositoryActor: string;
  readonly requester: Person;
  repo: FakeRepo;
  /** The bot's environment for this forge. */
  env(): Record<string, string>;
  /** A fresh fake with a fresh repository, behind nock. */
  reset(): void;
  /** Registers a change request (same repository, or a fork's with its head commit) and returns its number. */
  addChangeRequest(input: { headBranch: string; baseBranch?: string; fork?: { headSha: string } }): ThreadId;
  mention(bot: TestBot, thread: ThreadId, body: string, as?: Person): Promise<void>;
  /** Live replies of the bot in the thread (notes carrying the reply marker), oldest first. */
  replies(thread: ThreadId): string[];
  /** Live notices of the bot in the thread. */
  notices(thread: ThreadId): string[];
  /** Every live note of the bot in the thread. */
  botNotes(thread: ThreadId): string[];
  openedChangeRequests(): OpenedCR[];
  /** Writes to the repository (notes left out). */
  repoWrites(): ForgeRequest[];
  /** Makes `person` someone who may read but not write. */
  makeReader(person: Person): void;
  /** Answers `answer` instead of the fake when `match` says so (after letting the fake apply it when `apply`). */
  intercept(match: (r: ForgeRequest) => boolean, answer: { status: number; body: unknown; apply?: boolean; once?: boolean }): void;
  /** Requests no endpoint of the fake answered (the fake serves only documented endpoints). */
  unrouted(): string[];
  /** Requests the fake refused for their fields (422 on GitHub, 400 on GitLab, for publishing endpoints). */
  refusedForShape(): string[];
}

const REPLY = "forgebot:reply";
const NOTICE = "forgebot:notice";

export class GitHubPublishForge implements PublishForge {
  readonly name = "github" as const;
  readonly changeRequestName = "pull request";
  readonly repositoryActor = "github:repo:codertocat/hello-world";
  readonly requester: Person = { id: 21031067, login: "Codertocat" };
  fake = new FakeGitHub();
  repo = FakeRepo.from(CHANGE_REPO);
  #comment = 7_100_000;
  #delivery = 0;
  #nextPull = 300;
  /** Numbers of opened pull requests never repeat within a test file (the database remembers them). */
  #openedFrom = 900;

  reference(thread: ThreadId): string {
    return `#${thread.number}`;
  }

  env(): Record<string, string> {
    return {};
  }

  reset(): void {
    this.fake = new FakeGitHub();
    this.repo = FakeRepo.from(CHANGE_REPO);
    this.fake.repo = this.repo;
    this.fake.nextPullNumber = this.#openedFrom;
    this.#openedFrom += 100;
    nockGitHub(this.fake);
  }

  addChangeRequest(input: { headBranch: string; baseBranch?: string; fork?: { headSha: string } }): ThreadId {
    const number = this.#nextPull++;
    this.fake.pulls.push({
      number,
      title: "Fix sub",
      body: "",
      head: input.fork ? { ref: input.headBranch, repoId: 999_001, fullName: "someone/Hello-World", sha: input.fork.headSha } : { ref: input.headBranch, repoId: this.fake.repoId, fullName: this.fake.repoPath },
      base: { ref: input.baseBranch ?? "main" },
      draft: false,
      state: "open",
      byBot: false,
    });
    return { kind: "cr", number };
  }

  async mention(bot: TestBot, thread: ThreadId, body: string, as: Person = this.requester): Promise<void> {
    const payload = githubExample("issue_comment", "created", (p) => {
      p.issue.number = thread.number;
      if (thread.kind === "cr") p.issue.pull_request = { url: `https://api.github.com/repos/Codertocat/Hello-World/pulls/${thread.number}` };
      p.comment.id = ++this.#comment;
      p.comment.body = body;
      p.comment.created_at = new Date().toISOString();
      p.comment.user = { ...p.comment.user, login: as.login, id: as.id };
      p.sender = { ...p.sender, login: as.login, id: as.id };
    });
    const text = JSON.stringify(payload);
    const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `publish-${++this.#delivery}-${Date.now()}`, text), body: text });
    expect(res.status).toBe(202);
  }

  botNotes(thread: ThreadId): string[] {
    return this.fake.live({ number: thread.number }).filter((c) => !c.author).map((c) => c.body);
  }

  replies(thread: ThreadId): string[] {
    return this.botNotes(thread).filter((b) => b.includes(REPLY));
  }

  notices(thread: ThreadId): string[] {
    return this.botNotes(thread).filter((b) => b.includes(NOTICE));
  }

  openedChangeRequests(): OpenedCR[] {
    return this.fake.openedPulls().map((p) => ({ number: p.number, title: p.title, body: p.body, head: p.head.ref, base: p.base.ref, draft: p.draft, removeSourceBranch: null }));
  }

  repoWrites(): ForgeRequest[] {
    return this.fake
      .writes()
      .filter((r) => !/\/comments/.test(r.path))
      .map((r) => ({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> }));
  }

  makeReader(person: Person): void {
    this.fake.permissions.set(person.login, "read");
  }

  unrouted(): string[] {
    return [...this.fake.unrouted];
  }

  refusedForShape(): string[] {
    return this.fake.shapeRefusals();
  }

  intercept(match: (r: ForgeRequest) => boolean, answer: { status: number; body: unknown; apply?: boolean; once?: boolean }): void {
    let used = false;
    const interceptor: Interceptor = async (r: RecordedRequest) => {
      if (used && answer.once !== false) return undefined;
      if (!match({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> })) return undefined;
      used = true;
      if (answer.apply) {
        // Let the fake apply the request as the forge would, then answer as the fault says.
        this.fake.interceptors.splice(this.fake.interceptors.indexOf(interceptor), 1);
        await this.fake.respond(r.method, `${r.path}${r.query ?? ""}`, JSON.stringify(r.body ?? {}), r.headers ?? {});
        this.fake.requests.splice(this.fake.requests.length - 1, 1);
      }
      return [answer.status, answer.body];
    };
    this.fake.interceptors.push(interceptor);
  }
}

export class GitLabPublishForge implements PublishForge {
  readonly name = "gitlab" as const;
  readonly changeRequestName = "merge request";
  readonly repositoryActor = "gitlab:project:gitlab-org/gitlab-test";
  readonly requester: Person = { id: 1, login: "root" };
  fake = new FakeGitLab();
  repo = FakeRepo.from(CHANGE_REPO);
  #note = 61_000;
  #delivery = 0;
  #nextIid = 20;
  #openedFrom = 300;

  reference(thread: ThreadId): string {
    return `${thread.kind === "cr" ? "!" : "#"}${thread.number}`;
  }

  env(): Record<string, string> {
    return { GITLAB_URL: FAKE_GITLAB_URL, GITLAB_TOKEN: FAKE_GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET: "gitlab-hook-secret", GITLAB_NOTES_PER_MINUTE: "10000" };
  }

  reset(): void {
    this.fake = new FakeGitLab();
    this.repo = FakeRepo.from(CHANGE_REPO);
    this.fake.repo = this.repo;
    this.fake.nextIid = this.#openedFrom;
    this.#openedFrom += 100;
    nockGitLab(this.fake);
  }

  addChangeRequest(input: { headBranch: string; baseBranch?: string; fork?: { headSha: string } }): ThreadId {
    const iid = this.#nextIid++;
    this.fake.openedMergeRequests.push({
      iid,
      title: "Fix sub",
      description: "",
      sourceBranch: input.headBranch,
      targetBranch: input.baseBranch ?? "main",
      removeSourceBranch: false,
      state: "opened",
      byBot: false,
      ...(input.fork ? { sourceProjectId: 77, headSha: input.fork.headSha } : {}),
    });
    return { kind: "cr", number: iid };
  }

  async mention(bot: TestBot, thread: ThreadId, body: string, as: Person = this.requester): Promise<void> {
    const noteId = ++this.#note;
    const fixture = thread.kind === "cr" ? "note-merge-request.docs-example" : "note-issue.docs-example";
    const payload = gitlabPayload(fixture, (p) => {
      p.object_attributes.id = noteId;
      p.object_attributes.note = body;
      p.object_attributes.created_at = new Date().toISOString();
      p.object_attributes.discussion_id = `d${noteId}`.padEnd(40, "0");
      p.project.visibility_level = 20;
      p.user = { ...p.user, id: as.id, username: as.login };
      p.object_attributes.author_id = as.id;
      if (thread.kind === "cr") p.merge_request.iid = thread.number;
      else p.issue.iid = thread.number;
    });
    this.fake.seedNote({ id: noteId, projectId: 5, noteable: thread.kind === "cr" ? "merge_requests" : "issues", iid: thread.number, body, discussionId: payload.object_attributes.discussion_id, author: { id: as.id, username: as.login } });
    const res = await fetch(`${bot.baseUrl}/api/gitlab/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": "gitlab-hook-secret", "idempotency-key": `publish-${++this.#delivery}-${Date.now()}` },
      body: JSON.stringify(payload),
    });
    expect(res.status).toBe(202);
  }

  botNotes(thread: ThreadId): string[] {
    const noteable = thread.kind === "cr" ? "merge_requests" : "issues";
    return this.fake.botNotes({ iid: thread.number, live: true }).filter((n) => n.noteable === noteable).map((n) => n.body);
  }

  replies(thread: ThreadId): string[] {
    return this.botNotes(thread).filter((b) => b.includes(REPLY));
  }

  notices(thread: ThreadId): string[] {
    return this.botNotes(thread).filter((b) => b.includes(NOTICE));
  }

  openedChangeRequests(): OpenedCR[] {
    return this.fake.botMergeRequests().map((m) => ({ number: m.iid, title: m.title, body: m.description, head: m.sourceBranch, base: m.targetBranch, draft: /^draft:/i.test(m.title), removeSourceBranch: m.removeSourceBranch }));
  }

  repoWrites(): ForgeRequest[] {
    return this.fake
      .writes()
      .filter((r) => !/\/notes|\/discussions/.test(r.path))
      .map((r) => ({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> }));
  }

  makeReader(person: Person): void {
    this.fake.members.set(person.id, 20);
  }

  unrouted(): string[] {
    return [...this.fake.unrouted];
  }

  refusedForShape(): string[] {
    return this.fake.shapeRefusals();
  }

  intercept(match: (r: ForgeRequest) => boolean, answer: { status: number; body: unknown; apply?: boolean; once?: boolean }): void {
    let used = false;
    const interceptor: GitLabInterceptor = (r) => {
      if (used && answer.once !== false) return undefined;
      if (!match({ method: r.method, path: r.path, body: (r.body ?? {}) as Record<string, unknown> })) return undefined;
      used = true;
      if (answer.apply) {
        this.fake.interceptors.splice(this.fake.interceptors.indexOf(interceptor), 1);
        const query = r.query.toString();
        this.fake.respond(r.method, `/api/v4${r.path}${query ? `?${query}` : ""}`, JSON.stringify(r.body ?? {}), r.token, r.authorization);
        this.fake.requests.splice(this.fake.requests.length - 1, 1);
      }
      return [answer.status, answer.body];
    };
    this.fake.interceptors.push(interceptor);
  }
}
