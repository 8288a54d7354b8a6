import type { Change, ChangeRefs, ChangeSince, PostedReview, ReviewDraft } from "./review-port.js";

/**
 * The one seam between forgebot and a Git forge. Inbound, each forge turns its webhook payloads
 * into a `MentionEvent`; outbound, a `ForgeClient` bound to one repository does the few writes
 * the lifecycle needs and the reads the agent's tools need. Nothing past `forges/` sees a raw
 * payload or a forge SDK.
 */

/** Every forge forgebot speaks to; `FORGE_NAMES` lists them for validation and metric series. */
export const FORGE_NAMES = ["github", "gitlab"] as const;
export type ForgeName = (typeof FORGE_NAMES)[number];
export type ThreadKind = "issue" | "change_request";

/**
 * Who may read the repository, as its webhook said: decides who may see a session page
 * (web/permissions.ts). A thread recorded without one is treated as private.
 */
export const REPO_VISIBILITIES = ["public", "internal", "private"] as const;
export type RepoVisibility = (typeof REPO_VISIBILITIES)[number];

/** Where a conversation lives and where answers go. Serializable: it travels in job data. */
export type ThreadRef = {
  forge: ForgeName;
  /** github.com, a GHES host, gitlab.com or a self-managed GitLab host. */
  host: string;
  /** GitHub repository id / GitLab project id. */
  repoId: string;
  /** owner/name or group/subgroup/project. */
  repoPath: string;
  /** GitHub App installation (GitHub only). */
  installationId?: number | undefined;
  kind: ThreadKind;
  /** Issue or pull request number / GitLab iid. */
  number: number;
  /** Where replies go: a GitHub review thread's root comment id or a GitLab discussion id. */
  replyTo?: { type: "review_thread"; rootCommentId: string } | { type: "discussion"; discussionId: string } | undefined;
  /** GitLab internal (confidential) notes: every note we post must be internal too. */
  internal?: boolean | undefined;
  /** The repository's visibility from the webhook; absent on threads recorded before it was kept. */
  visibility?: RepoVisibility | undefined;
};

/** Someone acting on a forge; `external` as ForgeUser's (GitLab's external users). */
export type Actor = { id: string; login: string; external?: boolean };

/** What a user may do in a repository: see its sessions, and spend (the mention rule). */
export type RepoAccess = { read: boolean; write: boolean };

/** One comment-like event that mentions the bot, normalized at the edge. */
export type MentionEvent = {
  forge: ForgeName;
  /** The forge's delivery id (X-GitHub-Delivery, Idempotency-Key) or a stable fallback. */
  deliveryKey: string;
  /** Unique per forge for the comment that triggered us; dedupes sessions across redeliveries. */
  triggerKey: string;
  triggerCommentId: string;
  eventName: string;
  thread: ThreadRef;
  actor: Actor;
  body: string;
  /** Title of the issue or change request, for the page and the prompt. */
  title: string;
  url: string | undefined;
  createdAt: string;
};

/** Why an event was not turned into a mention; used for logs and metrics, never shown to users. */
export type IgnoreReason =
  | "unhandled_event"
  | "edited"
  | "bot_sender"
  | "self"
  | "system_note"
  | "no_mention"
  | "malformed";

export type NormalizeResult = { kind: "mention"; event: MentionEvent } | { kind: "ignored"; reason: IgnoreReason };

export type NoteRef = {
  id: string;
  /** GitHub distinguishes issue comments from review comments; GitLab has notes only. */
  type: "issue_comment" | "review_comment" | "note";
};

/**
 * Error from a forge API call, with the HTTP status when there was one and, for rate limits
 * (429, GitHub's secondary-limit 403), how long the forge asked us to wait.
 */
export class ForgeApiError extends Error {
  override name = "ForgeApiError";
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown; retryAfterMs?: number | undefined },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export type FileEntry = { name: string; path: string; type: "file" | "dir" };

export type ThreadComment = {
  id: string;
  author: string;
  body: string;
  createdAt: string;
  updatedAt: string;
  system?: boolean;
};

export type ThreadContent = {
  title: string;
  body: string;
  author: string;
  url: string | undefined;
  comments: ThreadComment[];
  /** Head ref of a change request, for file reads. */
  headRef?: string | undefined;
};

/** The commit a change session's workspace starts from, and the branch it was read from. */
export type SnapshotRef = { ref: string; sha: string };

/**
 * Repository snapshots for change sessions: an optional capability (a forge without it runs no
 * change sessions). Reads only; the caller bounds what it extracts.
 */
export interface RepositoryArchive {
  /** The change request's head commit; for an issue, the default branch's head. */
  snapshotRef(thread: ThreadRef): Promise<SnapshotRef>;
  /** The repository's files at `sha` as a gzipped tarball (one top-level directory), streamed. */
  download(thread: ThreadRef, sha: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

/**
 * Publishing a change session's patch through the forge's API (no git credentials anywhere): an
 * optional capability. Reads tell where a change can go; the two writes each run their forge
 * requests as named steps (`PublishSteps`), so the caller records intents, counts outcomes and,
 * on a repeated attempt, lets a step find its own earlier write before writing again.
 */

/** One file of a change to publish, with its new content (null for a deletion). */
export type PublishFile = {
  path: string;
  /** The path before a rename. */
  oldPath: string | null;
  status: "added" | "modified" | "deleted" | "renamed" | "type_changed";
  /** Git modes: 100644, 100755, 120000 (symlink); "000000" when absent. */
  oldMode: string;
  newMode: string;
  content: Uint8Array | null;
};

/** A branch's head as the forge reports it. */
export type BranchHead = {
  name: string;
  sha: string;
  /** The head commit's message: a repeated publish recognizes its own commit by a line in it. */
  message: string;
  protected: boolean;
  /** The head commit's page, when the forge says. */
  url: string | null;
};

/** The branches of the change request a thread is. */
export type ChangeRequestBranches = {
  headBranch: string;
  headSha: string;
  /** The branch it merges into. */
  baseBranch: string;
  /** The head branch lives in another repository (a fork): forgebot cannot write it. */
  fork: boolean;
  open: boolean;
};

/** The named steps of a publish (the `step` label of forgebot_publish_steps_total). */
export type PublishStep = "blobs" | "tree" | "commit" | "branch" | "change_request";

/** How a publisher runs its forge requests: named, repeat-safe steps, each write through `write`. */
export interface PublishSteps {
  /**
   * Runs one step. When an earlier attempt may have written already (a repeat), `find` is asked
   * first and what it finds is used instead of writing again; a result an earlier attempt
   * recorded is returned as it is. `create` hands what it found after the forge refused a
   * duplicate ("already exists") to `adopt`, so it counts as found, not made.
   */
  run<T>(step: PublishStep, actions: { find?: () => Promise<T | null>; create: (adopt: (found: T) => T) => Promise<T> }): Promise<T>;
  /** Every forge write request of a step goes through here (the write budget wraps it). */
  write<T>(request: () => Promise<T>): Promise<T>;
}

export type CommitInput = {
  branch: string;
  /** Create `branch` at the new commit, or move the existing one forward from `parentSha` (never forced). */
  newBranch: boolean;
  parentSha: string;
  files: readonly PublishFile[];
  message: string;
  /** A line of `message` that tells this publish's commit from any other. */
  marker: string;
};

export type PublishedCommit = { sha: string; url: string | null };

/** The branch's head when it is this publish's commit (its message carries the marker), else null. */
export function publishedHead(head: BranchHead | null, marker: string): PublishedCommit | null {
  return head && head.message.includes(marker) ? { sha: head.sha, url: head.url } : null;
}

export type ChangeRequestInput = { branch: string; base: string; title: string; body: string };

export type OpenedChangeRequest = { number: number; url: string | null; title: string; draft: boolean };

/**
 * The forge refused a publish for a reason the requester can act on (a protected branch, a branch
 * that moved, a rule of the repository); the message says which, as the reply can show it.
 */
export class PublishRefusal extends Error {
  override name = "PublishRefusal";
}

export interface ChangePublisher {
  defaultBranch(thread: ThreadRef): Promise<string>;
  /** The thread's change request (change request threads only). */
  changeRequestBranches(thread: ThreadRef): Promise<ChangeRequestBranches>;
  /** The branch's head, or null when there is no such branch. */
  findBranch(thread: ThreadRef, name: string): Promise<BranchHead | null>;
  /** The change request whose head is `branch`, in any state, or null. */
  findChangeRequest(thread: ThreadRef, branch: string): Promise<OpenedChangeRequest | null>;
  /** The `Co-authored-by:` value for `actor`: their name and the forge's noreply address. */
  coAuthor(actor: Actor): string;
  /** One commit with `files` on `parentSha`, then `branch` created at it or moved to it. */
  pushCommit(thread: ThreadRef, input: CommitInput, steps: PublishSteps): Promise<PublishedCommit>;
  /** A draft change request from `branch` into `base` (a normal one titled as a draft where drafts are not offered). */
  openChangeRequest(thread: ThreadRef, input: ChangeRequestInput, steps: PublishSteps): Promise<OpenedChangeRequest>;
}

/** The client for one repository/project, authenticated as the bot. */
export interface ForgeClient {
  /** True when the actor may spend (GitHub: admin/maintain/write; GitLab: access level ≥ Developer). */
  canUseBot(actor: Actor): Promise<boolean>;
  /**
   * What the actor may do here, asked with the bot's own credentials: `write` is `canUseBot`'s
   * rule, `read` whether they may see this repository given its `visibility`. One forge call.
   */
  accessOf?(actor: Actor, visibility: RepoVisibility): Promise<RepoAccess>;
  /** Posts a note in the thread (in the review thread / discussion when `replyTo` is set). */
  postNote(thread: ThreadRef, body: string): Promise<NoteRef>;
  /** Finds our own note holding `marker`, or null. Used so a repeated job never posts twice. */
  findNoteByMarker(thread: ThreadRef, marker: string, since?: Date): Promise<NoteRef | null>;
  /** Deletes a note. A note already gone (404) throws ForgeApiError with status 404. */
  deleteNote(thread: ThreadRef, note: NoteRef): Promise<void>;
  /** Read-only tools for the agent. */
  getThread?(thread: ThreadRef): Promise<ThreadContent>;
  getDiff?(thread: ThreadRef): Promise<string>;
  readFile?(thread: ThreadRef, filePath: string, ref?: string): Promise<string>;
  listDirectory?(thread: ThreadRef, dirPath: string, ref?: string): Promise<FileEntry[]>;
  /**
   * Review capability (change requests only). `getChangeRefs` reads the head and base commits;
   * `getChange` the files and hunks, all read at one head (re-read when the head moves while
   * listing); `getChangeSince` what changed between two commits of the branch.
   */
  getChangeRefs?(thread: ThreadRef): Promise<ChangeRefs>;
  getChange?(thread: ThreadRef): Promise<Change>;
  getChangeSince?(thread: ThreadRef, fromSha: string, toSha: string): Promise<ChangeSince>;
  /**
   * Posts one review: never an approval or a request for changes. Comments the forge refuses
   * for their position are listed in the summary (`refused`) rather than failing the review.
   * Not repeat-safe on its own: callers look with `findReview` first when an attempt may
   * already have posted (a write-ahead intent, as for notes).
   */
  postReview?(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview>;
  /** Our review carrying `draft.marker`, with its comments mapped by their markers; null when there is none. */
  findReview?(thread: ThreadRef, draft: ReviewDraft): Promise<PostedReview | null>;
  /** Snapshots of the repository for change sessions' workspaces. */
  archive?: RepositoryArchive;
  /** Publishing change sessions' patches as a branch, a commit and a draft change request. */
  publish?: ChangePublisher;
}

/**
 * Everything forge-specific that the rest of forgebot says or keys on, so nothing outside
 * `forges/` asks which forge it is. Static: known for every forge, configured or not (a page
 * may show a session of a forge that is no longer configured).
 */
export type ForgeProfile = {
  readonly name: ForgeName;
  /** "GitHub", "GitLab". */
  readonly displayName: string;
  /** "pull request", "merge request". */
  readonly changeRequestName: string;
  /** "#12" for issues and pull requests; GitLab's merge requests are "!12". */
  threadReference(kind: ThreadKind, number: number): string;
  /** How a note @-mentions a user. */
  mention(login: string): string;
  /** Who may start sessions, as the permission note says it. */
  readonly writersDescription: string;
  /** Feature-flag actor id of a user (`github:octocat`). */
  userActor(login: string): string;
  /** Feature-flag actor id of a repository (`github:repo:owner/name`, `gitlab:project:group/name`). */
  repositoryActor(path: string): string;
  /** Longest note body the forge accepts, in characters (longer replies are cut and say so). */
  readonly maxNoteChars: number;
};

/** A configured forge: hands out clients bound to a repository. */
export interface Forge {
  readonly name: ForgeName;
  readonly profile: ForgeProfile;
  clientFor(thread: ThreadRef): Promise<ForgeClient>;
}

/** What the lifecycle did with a normalized webhook event (metrics and the 2xx answer). */
export type AcceptOutcome = "accepted" | "duplicate" | IgnoreReason;

/** The webhook pipeline's last step before it answers: record and enqueue (lifecycle/accept.ts). */
export type AcceptEvent = (result: NormalizeResult) => Promise<AcceptOutcome>;
