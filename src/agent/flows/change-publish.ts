import type { FlowContext, FlowOutcome } from "../../sessions/flow.js";
import type { ChangePublisher, ThreadRef } from "../../sessions/forge-port.js";
import type { SessionStore } from "../../sessions/ports.js";
import { approvalLine } from "../../sessions/publish-notes.js";
import type { Session, SessionApproval, SessionUsage } from "../../sessions/session.js";
import { changePolicy, type ChangePolicy } from "../../workspace/policy.js";
import type { StoredPatch, WorkspaceStore } from "../../workspace/store.js";
import { removeWorkspace, type Workspace, type WorkspaceSettings } from "../../workspace/workspace.js";
import { chainOf, type CheckpointStore } from "../checkpoints.js";
import { approvalTarget } from "../publish/plan.js";
import { publishChange, type PublishDeps, type PublishOutcome } from "../publish/publish.js";
import type { PublishStore } from "../publish/store.js";
import { loadRepoSettings } from "../repo-settings.js";
import { rebuildState } from "../state.js";

/**
 * How a change session's patch is approved and published. A non-empty patch waits for
 * `@forgebot apply` unless CHANGE_APPROVAL (or the default branch's `.forgebot.yml`
 * `changes.approval`) is `never`; the run an `apply` resumes publishes without asking the model.
 * A published or conflicting change ends the session (its workspace removed); a refused or failed
 * one waits again, so `apply` can be tried once the cause is gone.
 */

export type ChangePublishing = {
  store: PublishStore;
  /** CHANGE_APPROVAL: whether a change waits for `@forgebot apply`, unless the repository says otherwise. */
  approval: "always" | "never";
  sessionUrl(sessionId: number): string;
  /** Waits between tries of a step the forge gave no answer to (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
};

/** What approving and publishing need of the change flow's parts. */
export type PublishingDeps = {
  checkpoints: Pick<CheckpointStore, "list">;
  sessions: Pick<SessionStore, "addEvent">;
  store: Pick<WorkspaceStore, "findPatch" | "patchContents">;
  workspaces: WorkspaceSettings;
  change: { maxFiles: number; maxPatchBytes: number };
  publishing: ChangePublishing;
};

type Settings = { approval: "always" | "never"; protectedGlobs: string[] };

/**
 * The repository's rules for publishing, read on the forge: `changes.approval` from the default
 * branch only (a change request cannot waive approval for itself), `changes.protected` from the
 * default branch and the snapshot together. A read that fails means approval.
 */
async function publishSettings(publisher: ChangePublisher, context: FlowContext, thread: ThreadRef, snapshotSha: string, installation: "always" | "never"): Promise<Settings> {
  let approval: "always" | "never" = installation;
  const protectedGlobs: string[] = [];
  try {
    const defaultBranch = await publisher.defaultBranch(thread);
    const onDefault = await loadRepoSettings(context.forge, thread, defaultBranch);
    if (onDefault.problems.some((p) => p.startsWith("the file"))) approval = "always";
    else approval = onDefault.settings.changes.approval ?? installation;
    protectedGlobs.push(...onDefault.settings.changes.protected);
  } catch (err: unknown) {
    context.log.warn({ err }, "the default branch's settings could not be read; the change waits for approval");
    approval = "always";
  }
  const onSnapshot = await loadRepoSettings(context.forge, thread, snapshotSha);
  protectedGlobs.push(...onSnapshot.settings.changes.protected);
  return { approval, protectedGlobs };
}

/** The model's closing summary, from the checkpoints (an approved run does not ask the model). */
async function closingSummary(deps: PublishingDeps, sessionId: number): Promise<string> {
  return rebuildState(chainOf(await deps.checkpoints.list(sessionId))).final?.text ?? "";
}

export type Publishing = {
  deps: PublishingDeps;
  session: Session;
  context: FlowContext;
  open: () => Promise<Workspace>;
};

function publishDeps(p: Publishing): PublishDeps {
  return { store: p.deps.publishing.store, workspaces: p.deps.store, sessions: p.deps.sessions, sessionUrl: p.deps.publishing.sessionUrl };
}

async function publish(p: Publishing, patch: StoredPatch, approval: Pick<SessionApproval, "here" | "actor"> | null, policy: ChangePolicy, summary: string): Promise<PublishOutcome> {
  return publishChange(publishDeps(p), {
    session: p.session,
    context: p.context,
    patch,
    approval,
    summary,
    policy,
    workspace: p.open,
    maxBytes: p.deps.workspaces.maxBytes,
    ...(p.deps.publishing.sleep ? { sleep: p.deps.publishing.sleep } : {}),
  });
}

/** A publish's outcome as the session's: ended (published, conflict) or waiting again (refused, failed). */
async function asFlowOutcome(p: Publishing, outcome: PublishOutcome, markdown: string, usage: SessionUsage | undefined): Promise<FlowOutcome> {
  const withUsage = usage ? { usage } : {};
  if (outcome.kind === "published" || outcome.kind === "conflict") {
    await removeWorkspace(p.deps.workspaces, p.session.id);
    return { kind: "finished", markdown, ...withUsage };
  }
  return { kind: "plan_approval_required", markdown, ...withUsage };
}

/**
 * After the agent's run ended with a non-empty patch: waits for approval (the reply shows the
 * change and ends with how to apply it), or publishes at once with CHANGE_APPROVAL=never.
 * `result(action)` is the run's reply with `action` after the diff.
 */
export async function afterChange(p: Publishing, patch: StoredPatch, summary: string, usage: SessionUsage | undefined, result: (action: string) => string): Promise<FlowOutcome> {
  const publisher = p.context.forge.publish!;
  const thread = p.session.callbackContext.thread;
  const settings = await publishSettings(publisher, p.context, thread, patch.baseSha, p.deps.publishing.approval);
  if (settings.approval === "always") {
    const own = thread.kind === "change_request" ? await p.deps.publishing.store.findPublished({ forge: thread.forge, host: thread.host, repoId: thread.repoId, number: thread.number }) : null;
    const reference = p.context.profile.threadReference(thread.kind, thread.number);
    const target = await approvalTarget(publisher, { thread, reference, snapshotRef: patch.baseRef, ownBranch: own?.branch ?? null });
    return { kind: "plan_approval_required", markdown: result(approvalLine(p.context.handle, p.context.profile.changeRequestName, target)), ...(usage ? { usage } : {}) };
  }
  const policy = changePolicy(p.deps.change, settings.protectedGlobs);
  const outcome = await publish(p, patch, null, policy, summary);
  return asFlowOutcome(p, outcome, result(outcome.text), usage);
}

/** The run an `@forgebot apply` resumed: publishes the stored patch; the model is not asked. */
export async function publishApproved(p: Publishing, approval: SessionApproval): Promise<FlowOutcome> {
  const patch = await p.deps.store.findPatch(p.session.id);
  if (!patch || patch.filesChanged === 0) {
    await removeWorkspace(p.deps.workspaces, p.session.id);
    return { kind: "finished", markdown: "There is no change to publish: this session changed no files." };
  }
  const publisher = p.context.forge.publish!;
  const thread = p.session.callbackContext.thread;
  // The rules as they are now: a repository may have protected more since the change was made.
  const settings = await publishSettings(publisher, p.context, thread, patch.baseSha, p.deps.publishing.approval);
  const policy = changePolicy(p.deps.change, settings.protectedGlobs);
  const outcome = await publish(p, patch, approval, policy, await closingSummary(p.deps, p.session.id));
  return asFlowOutcome(p, outcome, outcome.text, undefined);
}
