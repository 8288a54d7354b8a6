import { publishes } from "../../metrics/flows.js";
import { RunInterruptedError } from "../../sessions/errors.js";
import type { FlowContext } from "../../sessions/flow.js";
import { ForgeApiError, PublishRefusal, type ChangePublisher, type OpenedChangeRequest, type PublishFile } from "../../sessions/forge-port.js";
import type { SessionStore } from "../../sessions/ports.js";
import { conflictText, publishedText, publishFailedText, refusedText } from "../../sessions/publish-notes.js";
import type { Session, SessionApproval } from "../../sessions/session.js";
import { WorkspaceError, WorkspaceTooLargeError } from "../../workspace/errors.js";
import { publishRefusalReason, type ChangePolicy } from "../../workspace/policy.js";
import { rebasePatch } from "../../workspace/rebase.js";
import type { PatchPublication, StoredPatch, WorkspaceStore } from "../../workspace/store.js";
import type { Workspace } from "../../workspace/workspace.js";
import { changeRequestBody, commitMessage, sessionTrailer, summaryLine } from "./message.js";
import { planPublish, type PublishPlan } from "./plan.js";
import { createStepRunner } from "./steps.js";
import type { PublishStore } from "./store.js";

/**
 * Publishing an approved change: the policy again, where it goes (plan.ts), the patch applied
 * three-way when its base moved, then the forge's steps — one commit, the branch, the draft
 * change request — each recorded ahead (steps.ts) so a crash or a lost answer at any point ends
 * with one branch, one commit and one change request. Counted in forgebot_publishes_total.
 */

export type PublishDeps = {
  store: PublishStore;
  workspaces: Pick<WorkspaceStore, "patchContents">;
  sessions: Pick<SessionStore, "addEvent">;
  sessionUrl(sessionId: number): string;
};

export type PublishRequest = {
  session: Session;
  context: FlowContext;
  patch: StoredPatch;
  approval: Pick<SessionApproval, "here" | "actor"> | null;
  /** The model's closing summary, for the commit message and the change request. */
  summary: string;
  /** Protected paths and limits, read again for this publish. */
  policy: ChangePolicy;
  /** The session's workspace (rebuilt if gone): the three-way apply runs in its repository. */
  workspace(): Promise<Workspace>;
  /** WORKSPACE_MAX_BYTES, for the newer commit's archive. */
  maxBytes: number;
  /** Waits between tries of a step the forge gave no answer to (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
};

export type PublishOutcome =
  | { kind: "published"; publication: Omit<PatchPublication, "publishedAt">; text: string }
  | { kind: "refused" | "conflict" | "failed"; text: string };

function toPublishFiles(patch: StoredPatch, contents: Map<string, Buffer>): PublishFile[] {
  return patch.files.map((f) => {
    const content = f.blob === null ? null : contents.get(f.path);
    if (content === undefined) throw new Error(`the stored patch has no content for ${f.path}`);
    return { path: f.path, oldPath: f.oldPath, status: f.status, oldMode: f.oldMode, newMode: f.newMode, content };
  });
}

/** The plan of this run: fixed by its first attempt, so a repeat writes the same branch on the same commit. */
async function fixedPlan(deps: PublishDeps, request: PublishRequest, publisher: ChangePublisher) {
  const { session, context } = request;
  const run = session.runSeq;
  const claim = await deps.store.claimStep(session.id, run, "plan");
  if (claim.result) return { kind: "plan" as const, plan: claim.result as PublishPlan };
  const thread = session.callbackContext.thread;
  const own = thread.kind === "change_request" ? await deps.store.findPublished({ forge: thread.forge, host: thread.host, repoId: thread.repoId, number: thread.number }) : null;
  const planned = await planPublish(publisher, {
    thread,
    reference: context.profile.threadReference(thread.kind, thread.number),
    sessionId: session.id,
    request: session.prompt,
    snapshotSha: request.patch.baseSha,
    here: request.approval?.here ?? false,
    ownBranch: own?.branch ?? null,
  });
  if (planned.kind === "plan") await deps.store.completeStep(session.id, run, "plan", planned.plan);
  return planned;
}

/** The files to commit on `plan.parentSha`: the patch as stored, or applied three-way when the base moved. */
async function filesFor(deps: PublishDeps, request: PublishRequest, plan: PublishPlan): Promise<{ kind: "files"; files: PublishFile[] } | { kind: "conflict"; paths: string[] }> {
  const { patch, session, context } = request;
  if (plan.parentSha === patch.baseSha) return { kind: "files", files: toPublishFiles(patch, await deps.workspaces.patchContents(session.id)) };
  const archive = context.forge.archive;
  if (!archive) throw new WorkspaceError("download", "this forge offers no repository archives to apply the change on the moved base");
  const workspace = await request.workspace();
  const rebased = await rebasePatch(workspace, {
    diff: patch.diff,
    download: () => archive.download(session.callbackContext.thread, plan.parentSha, context.signal),
    maxBytes: request.maxBytes,
  });
  if (rebased.kind === "conflict") return rebased;
  return { kind: "files", files: rebased.files.map((f) => ({ path: f.path, oldPath: f.oldPath, status: f.status, oldMode: f.oldMode, newMode: f.newMode, content: f.content })) };
}

async function publishSteps(deps: PublishDeps, request: PublishRequest, publisher: ChangePublisher, plan: PublishPlan, files: PublishFile[]) {
  const { session, context } = request;
  const thread = session.callbackContext.thread;
  const { profile } = context;
  const reference = profile.threadReference(thread.kind, thread.number);
  const sessionUrl = deps.sessionUrl(session.id);
  const threadLink = { label: `${session.repoPath}${reference}`, url: session.callbackContext.threadUrl ?? null };
  const approver = request.approval && request.approval.actor.login !== session.actor.login ? `\n\nApproved by @${request.approval.actor.login}.` : "";
  const message = commitMessage({
    request: session.prompt,
    summary: `${request.summary}${approver}`,
    requester: session.actor.login,
    thread: threadLink,
    coAuthor: publisher.coAuthor(session.actor),
    sessionUrl,
  });
  const steps = createStepRunner({ store: deps.store, forge: session.forge, sessionId: session.id, run: session.runSeq, log: context.log, signal: context.signal, ...(request.sleep ? { sleep: request.sleep } : {}) });
  const commit = await publisher.pushCommit(thread, { branch: plan.branch, newBranch: plan.newBranch, parentSha: plan.parentSha, files, message, marker: sessionTrailer(sessionUrl) }, steps);

  let opened: OpenedChangeRequest | null = null;
  if (plan.target !== null) {
    const notes = [
      ...(plan.stackedOn ? [`Stacked on ${plan.stackedOn.reference}: its base is \`${plan.stackedOn.branch}\`, so merging it adds this change to ${plan.stackedOn.reference}.`] : []),
      ...(plan.fork ? [`${plan.fork.reference} comes from a fork, which forgebot cannot write to, so this ${profile.changeRequestName} is against \`${plan.fork.base}\` and includes ${plan.fork.reference}'s commits.`] : []),
    ];
    const body = changeRequestBody({ summary: request.summary, requester: session.actor.login, thread: { reference, ...threadLink }, sessionId: session.id, sessionUrl, stat: request.patch.stat, notes });
    opened = await publisher.openChangeRequest(thread, { branch: plan.branch, base: plan.target, title: summaryLine(session.prompt), body }, steps);
  }
  return { commit, opened, reference };
}

/**
 * Publishes the session's stored patch as `request.approval` (or CHANGE_APPROVAL=never) asks.
 * Never throws for what the requester can act on: a refusal, a conflict, or a forge failure is an
 * outcome with its reply text. Throws RunInterruptedError (and the signal's reason) on shutdown or
 * stop, and errors of forgebot's own (the database) as they are.
 */
export async function publishChange(deps: PublishDeps, request: PublishRequest): Promise<PublishOutcome> {
  const { session, context, patch } = request;
  const { profile, handle } = context;
  const thread = session.callbackContext.thread;
  const run = session.runSeq;
  const count = (outcome: "published" | "failed" | "refused" | "conflict") => publishes.inc({ forge: session.forge, outcome });
  const refused = async (reason: string, offer: Parameters<typeof refusedText>[0]["offer"] = null): Promise<PublishOutcome> => {
    count("refused");
    await deps.sessions.addEvent(session.id, "publish_refused", { run, reason: reason.slice(0, 1000) });
    context.log.info({ sessionId: session.id, run, reason }, "publish refused");
    return { kind: "refused", text: refusedText({ reason, handle, changeRequestName: profile.changeRequestName, offer }) };
  };

  const publisher = context.forge.publish;
  if (!publisher) return refused(`${profile.displayName} offers no way for forgebot to publish changes here`);
  const policyProblem = publishRefusalReason(request.policy, patch.files, patch.bytes);
  if (policyProblem) return refused(policyProblem);

  try {
    const planned = await fixedPlan(deps, request, publisher);
    if (planned.kind === "refused") return refused(planned.reason, planned.offer);
    const { plan } = planned;
    const files = await filesFor(deps, request, plan);
    if (files.kind === "conflict") {
      count("conflict");
      await deps.sessions.addEvent(session.id, "publish_conflict", { run, branch: plan.parentBranch, from: patch.baseSha, to: plan.parentSha, paths: files.paths.slice(0, 100) });
      return { kind: "conflict", text: conflictText({ handle, branch: plan.parentBranch, from: patch.baseSha, to: plan.parentSha, paths: files.paths }) };
    }
    // The three-way result is held to the same rules as the patch.
    const rebasedProblem = plan.parentSha === patch.baseSha ? null : publishRefusalReason(request.policy, files.files, 0);
    if (rebasedProblem) return refused(rebasedProblem);

    const { commit, opened, reference } = await publishSteps(deps, request, publisher, plan, files.files);
    const number = opened?.number ?? thread.number;
    const publication: Omit<PatchPublication, "publishedAt"> = {
      run,
      mode: plan.mode,
      branch: plan.branch,
      commit,
      changeRequest: {
        number,
        url: opened ? opened.url : (session.callbackContext.threadUrl ?? null),
        title: opened?.title ?? null,
        draft: opened?.draft ?? false,
        reference: profile.threadReference("change_request", number),
        name: profile.changeRequestName,
        opened: opened !== null,
      },
      parentSha: plan.parentSha,
      rebased: plan.parentSha !== patch.baseSha,
    };
    await deps.store.markPublished(session.id, publication, opened ? { forge: thread.forge, host: thread.host, repoId: thread.repoId, number: opened.number } : null);
    count("published");
    context.log.info({ sessionId: session.id, run, mode: plan.mode, branch: plan.branch, commit: commit.sha, changeRequest: number }, "change published");
    const text = publishedText({
      changeRequestName: profile.changeRequestName,
      reference: publication.changeRequest.reference,
      commit,
      branch: plan.branch,
      as: opened
        ? { kind: "opened", title: opened.title, url: opened.url, draft: opened.draft }
        : plan.mode === "here"
          ? { kind: "committed", onto: plan.branch, reference }
          : { kind: "pushed", reference },
      stackedOn: plan.stackedOn ?? undefined,
      fork: plan.fork ?? undefined,
      moved: publication.rebased ? { branch: plan.parentBranch, from: patch.baseSha, to: plan.parentSha } : undefined,
    });
    return { kind: "published", publication, text };
  } catch (err: unknown) {
    if (err instanceof RunInterruptedError || context.signal.aborted) throw err;
    if (err instanceof PublishRefusal) return refused(err.message);
    if (err instanceof ForgeApiError || err instanceof WorkspaceError || err instanceof WorkspaceTooLargeError) {
      count("failed");
      const detail = err.message.slice(0, 500);
      await deps.sessions.addEvent(session.id, "publish_failed", { run, detail });
      context.log.warn({ err, sessionId: session.id, run }, "publish failed");
      return { kind: "failed", text: publishFailedText({ handle, detail }) };
    }
    throw err;
  }
}
