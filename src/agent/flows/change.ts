import type { ModelMessage } from "ai";
import { changeResultText, changesNotEnabledText } from "../../sessions/change-notes.js";
import { FlowError, RunInterruptedError } from "../../sessions/errors.js";
import type { Flow, FlowContext } from "../../sessions/flow.js";
import { ForgeApiError } from "../../sessions/forge-port.js";
import { stripMarkers } from "../../sessions/notes.js";
import type { Session } from "../../sessions/session.js";
import { workspaceDiff } from "../../workspace/operations.js";
import { readBlob } from "../../workspace/patch.js";
import { changePolicy } from "../../workspace/policy.js";
import type { Sandbox } from "../../workspace/sandbox.js";
import type { WorkspaceStore } from "../../workspace/store.js";
import { openWorkspace, removeWorkspace, type Workspace, type WorkspaceSettings } from "../../workspace/workspace.js";
import { sessionForgeTools, sessionRequest } from "./request.js";
import { questionText, runAgent, type AgentDeps, type AgentTask } from "../agent.js";
import { createChangeTools } from "../change-tools.js";
import { changeSystemPrompt, switchedToChangeMessage } from "../prompts/index.js";
import { loadRepoSettings, repoSettingsNotice } from "../repo-settings.js";
import { ASK_USER_TOOL, toolResult } from "../state.js";
import { recordedEffects, recoveredCommandMessages, unrecordedCommands } from "./change-recovery.js";
import { afterChange, publishApproved, type ChangePublishing, type Publishing } from "./change-publish.js";

/** The chat agent's tool that turns its session into a change session. */
export const START_CHANGE_TOOL = "start_change";

export type ChangeFlowDeps = AgentDeps & {
  workspaces: WorkspaceSettings;
  sandbox: Sandbox;
  store: WorkspaceStore;
  /** CHANGE_MAX_FILES and CHANGE_MAX_PATCH_BYTES. */
  change: { maxFiles: number; maxPatchBytes: number };
  /** The `code_changes` flag, for the session's user or repository. */
  allowed(session: Session): Promise<boolean>;
  /** The signed download URL of a session's patch. */
  patchUrl(sessionId: number): string;
  /** Approving and publishing changes; without it a change session ends with its patch. */
  publishing?: ChangePublishing;
};

/** What the reply may take of a forge note: the link, the usage line and the marker follow it. */
const REPLY_RESERVE_CHARS = 2000;

type RunState = {
  /** The last checkpoint when the current step began (the write-ahead records carry it). */
  seq: number;
  opened: Promise<Workspace> | null;
  workspace: Workspace | null;
  settingsProblems: string[];
};

function openFor(deps: ChangeFlowDeps, session: Session, context: FlowContext, state: RunState): () => Promise<Workspace> {
  const archive = context.forge.archive;
  const thread = session.callbackContext.thread;
  return () => {
    state.opened ??= (async () => {
      if (!archive) throw new FlowError("internal", "this forge offers no repository snapshots");
      const workspace = await openWorkspace({
        sessionId: session.id,
        forge: session.forge,
        settings: deps.workspaces,
        store: deps.store,
        source: { snapshotRef: () => archive.snapshotRef(thread), download: (sha, signal) => archive.download(thread, sha, signal) },
        effects: recordedEffects(await deps.checkpoints.list(session.id)),
        sandbox: deps.sandbox,
        signal: context.signal,
        log: context.log,
      });
      // `.forgebot.yml` as the snapshot has it: the agent's own edits never loosen its rules.
      const settings = await loadRepoSettings(
        {
          readFile: async (_thread, file) => {
            const text = await workspace.readBaseFile(file);
            if (text === null) throw new ForgeApiError(`${file} not found`, 404);
            return text;
          },
        },
        thread,
      );
      state.settingsProblems = settings.problems;
      workspace.policy = changePolicy(deps.change, settings.settings.changes.protected);
      state.workspace = workspace;
      await context.heartbeat();
      return workspace;
    })();
    return state.opened;
  };
}

/** The change flow's prompts, tools and step hooks for one run. */
function changeTask(deps: ChangeFlowDeps, session: Session, context: FlowContext, state: RunState): AgentTask {
  const { profile } = context;
  const commandsUnavailable = deps.sandbox.status.available ? null : deps.sandbox.status.reason;
  const forgeTools = sessionForgeTools(session, context, deps.limits.tools);
  const workspaceTools = createChangeTools({
    workspace: openFor(deps, session, context, state),
    commandsUnavailable,
    signal: context.signal,
    heartbeat: context.heartbeat,
    async recordCommand(toolCallId, command) {
      const row = await deps.store.startCommand({ sessionId: session.id, run: session.runSeq, afterSeq: state.seq, toolCallId, command });
      return (result) => deps.store.finishCommand(row.id, { outcome: result.outcome, exitCode: result.exitCode, signal: result.signal, durationMs: result.durationMs, output: result.output });
    },
    ...(deps.limits.tools ? { limits: deps.limits.tools } : {}),
  });
  const pick = (name: string) => (forgeTools[name] ? { [name]: forgeTools[name] } : {});
  return {
    system: changeSystemPrompt({ handle: context.handle, forgeName: profile.displayName, changeRequestName: profile.changeRequestName, commandsUnavailable }),
    request: sessionRequest(session, profile),
    tools: { ...pick(ASK_USER_TOOL), ...pick("get_thread"), ...pick("get_diff"), ...workspaceTools },
    steps: {
      beforeStep: (seq) => {
        state.seq = seq;
      },
      effects: async () => {
        const effect = await state.workspace?.takeEffect();
        return effect ? { tree: effect } : undefined;
      },
      recover: async (agentState, chain) => {
        const messages: ModelMessage[] = [];
        const open = agentState.pendingCall;
        if (open?.toolName === START_CHANGE_TOOL) {
          messages.push(toolResult(open, switchedToChangeMessage()));
        }
        const cut = unrecordedCommands(await deps.store.listCommands(session.id), chain);
        if (cut.length) messages.push(...recoveredCommandMessages(cut));
        if (messages.length === 0) return null;
        context.log.info({ sessionId: session.id, commands: cut.map((c) => c.id), switched: Boolean(open) }, "change session recovered calls before going on");
        return { messages, reason: cut.length ? "commands cut short (a stop or a crash) were not run again" : "switched from chat", data: { commandIds: cut.map((c) => c.id) } };
      },
    },
  };
}

/**
 * The patch of this run: stored already (a repeated run), made now from the workspace, or none;
 * with `record`, its stored row (read again only when it was saved now).
 */
async function finalPatch(deps: ChangeFlowDeps, session: Session, open: () => Promise<Workspace>, state: RunState) {
  const stored = await deps.store.findPatch(session.id);
  if (stored && stored.run === session.runSeq) return { patch: stored, record: async () => stored };
  if (!state.opened && !(await deps.store.findSnapshot(session.id))) return { patch: null, record: async () => null };
  const workspace = await open();
  const summary = await workspaceDiff(workspace);
  const contents = [];
  for (const file of summary.files) {
    if (file.blob === null) continue;
    contents.push({ path: file.path, mode: file.newMode, content: await readBlob(workspace.paths, file.blob) });
  }
  const { baseRef, baseSha } = workspace.snapshot;
  await deps.store.savePatch({ sessionId: session.id, run: session.runSeq, baseRef, baseSha, summary, contents });
  return { patch: { ...summary, baseRef, baseSha }, record: () => deps.store.findPatch(session.id) };
}

/**
 * `@forgebot change <request>`: the checkpointed agent with a workspace of the repository and
 * a sandbox to run commands in. Ends with the patch stored and shown; with publishing, a
 * non-empty patch then waits for `@forgebot apply` (or is published at once), and the run an
 * `apply` resumes publishes it (change-publish.ts). The workspace is removed when the session
 * ends and kept while it waits for an answer or an approval.
 */
export function createChangeFlow(deps: ChangeFlowDeps): Flow {
  return {
    name: "change",
    async run(session, context) {
      // Nothing is spent for someone the flag leaves out (a retry after it was turned off).
      if (!(await deps.allowed(session))) return { kind: "finished", markdown: changesNotEnabledText(context.handle) };
      const state: RunState = { seq: 0, opened: null, workspace: null, settingsProblems: [] };
      const open = openFor(deps, session, context, state);
      const { publishing } = deps;
      const publishable = publishing && context.forge.publish ? { deps: { ...deps, publishing }, session, context, open } satisfies Publishing : null;
      const thread = session.callbackContext.thread;
      const approval = session.callbackContext.approvals?.find((a) => a.run === session.runSeq);
      if (approval && publishable) return publishApproved(publishable, approval);
      const task = changeTask(deps, session, context, state);
      // In a change request forgebot opened, the conversation that asked for it is memory too.
      const origin = publishing && thread.kind === "change_request" ? await publishing.store.findPublished({ forge: thread.forge, host: thread.host, repoId: thread.repoId, number: thread.number }) : null;
      if (origin) task.memoryFrom = [origin.conversationKey];
      try {
        const end = await runAgent(deps, session, context, task);
        if (end.kind === "question") return { kind: "input_required", question: questionText(end.question), usage: end.usage };
        if (end.kind === "call") throw new FlowError("internal", `the change agent ended on ${end.toolName}, which it does not offer`);
        const { patch, record } = await finalPatch(deps, session, open, state);
        const commands = (await deps.store.listCommands(session.id)).filter((c) => c.status === "finished");
        const notes = [repoSettingsNotice(state.settingsProblems), deps.sandbox.status.available ? null : `Note: commands could not be run in this session: ${deps.sandbox.status.reason}.`].filter((n): n is string => n !== null);
        const result = (action?: string) =>
          changeResultText({
            sessionId: session.id,
            summary: stripMarkers(end.text),
            patch,
            commands: commands.map((c) => ({ command: c.command, exitCode: c.exitCode, outcome: c.outcome ?? "unavailable" })),
            patchUrl: deps.patchUrl(session.id),
            notes,
            action,
            maxChars: context.profile.maxNoteChars - REPLY_RESERVE_CHARS,
          });
        const stored = patch && patch.filesChanged > 0 ? await record() : null;
        if (stored && publishable) return await afterChange(publishable, stored, end.text, end.usage, result);
        await removeWorkspace(deps.workspaces, session.id);
        return { kind: "finished", markdown: result(), usage: end.usage };
      } catch (err: unknown) {
        // An interrupted run continues elsewhere (or here) from its checkpoints: keep what is on disk.
        if (!(err instanceof RunInterruptedError)) {
          await removeWorkspace(deps.workspaces, session.id).catch((rmErr: unknown) => context.log.warn({ err: rmErr, sessionId: session.id }, "workspace could not be removed"));
        }
        throw err;
      }
    },
  };
}
