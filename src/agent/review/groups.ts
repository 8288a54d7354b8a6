import type { ToolSet } from "ai";
import { FlowError } from "../../sessions/errors.js";
import type { FlowContext } from "../../sessions/flow.js";
import type { Session, SessionUsage } from "../../sessions/session.js";
import { runAgent, type AgentDeps, type AgentEnd, type AgentTask } from "../agent.js";
import { reviewRequestMessage, reviewSystemPrompt } from "../prompts/index.js";
import { ASK_USER_TOOL } from "../state.js";
import { sessionForgeTools } from "../flows/request.js";
import { fence, revealInvisible, sanitizeProse } from "../untrusted.js";
import { parseSubmission } from "./findings.js";
import { formatFileDiff } from "./plan.js";
import { SUBMIT_REVIEW_TOOL, submitReviewTool } from "./submit-tool.js";
import type { GroupResult, ReviewFinding, ReviewRecord, ReviewStore, StoppedEarly } from "./store.js";
import { scopeText } from "./summary.js";

/**
 * Runs the reviewer over the review's groups of files, one agent run per group in a fresh
 * context window (so tokens follow each group's size, not the whole change's), each ending on
 * its `submit_review` call. Each group's result is saved as it comes; a run that starts again
 * finds the groups and continuations already recorded and goes on from there.
 */

/** The reviewer's tools: read files at the head it reviews, and submit. No questions, no whole-diff read. */
function reviewTools(agent: AgentDeps, session: Session, context: FlowContext, head: string): ToolSet {
  const thread = session.callbackContext.thread;
  const all = sessionForgeTools(session, context, agent.limits.tools, head);
  // A review is public: in an internal (confidential) thread the reviewer never reads the discussion it could quote.
  const { [ASK_USER_TOOL]: _ask, get_diff: _diff, get_thread: thread_, ...rest } = all;
  return { ...rest, ...(thread_ && !thread.internal ? { get_thread: thread_ } : {}), [SUBMIT_REVIEW_TOOL]: submitReviewTool() };
}

function groupResult(index: number, end: AgentEnd): GroupResult {
  if (end.kind === "call" && end.toolName === SUBMIT_REVIEW_TOOL) return { index, ...parseSubmission(end.input), submitted: true };
  // The model answered in prose instead of submitting: its text is the group's summary, with no findings.
  const text = end.kind === "answer" ? end.text : end.kind === "question" ? end.question : "";
  return { index, findings: [], malformed: 0, summary: text.trim() ? text.trim().slice(0, 2000) : null, submitted: false };
}

function acknowledgement(result: GroupResult): string {
  return `Recorded ${result.findings.length} finding(s) for this group${result.malformed ? `; ${result.malformed} malformed one(s) dropped` : ""}.`;
}

export type GroupsOutcome = { findings: ReviewFinding[]; usage: SessionUsage | undefined; stopped: StoppedEarly | null };

export async function reviewGroups(agent: AgentDeps, store: ReviewStore, session: Session, context: FlowContext, record: ReviewRecord): Promise<GroupsOutcome> {
  const { profile } = context;
  const files = new Map((record.scopedFiles ?? record.files).map((f) => [f.path, f]));
  const groups = record.plan.groups;
  const request = (index: number) =>
    reviewRequestMessage({
      actor: session.actor.login,
      focus: sanitizeProse(session.prompt),
      forgeName: profile.displayName,
      changeRequestName: profile.changeRequestName,
      reference: profile.threadReference(session.threadKind, session.threadNumber),
      repoPath: session.repoPath,
      fencedTitle: fence(sanitizeProse(session.callbackContext.title), { kind: "title" }),
      fencedInstructions: record.instructions ? fence(sanitizeProse(record.instructions), { kind: "repository-instructions" }) : null,
      scope: scopeText(record).replace(/`/g, ""),
      group: index + 1,
      groups: groups.length,
      fencedDiff: fence(revealInvisible(groups[index]!.map((path) => formatFileDiff(files.get(path)!)).join("\n\n")), { kind: "diff", commit: record.refs.headSha }),
    });
  const task: AgentTask = {
    system: reviewSystemPrompt({ handle: context.handle, forgeName: profile.displayName, changeRequestName: profile.changeRequestName }),
    request: request(0),
    tools: reviewTools(agent, session, context, record.refs.headSha),
    memory: false,
  };

  let saved = record.groups;
  let end: AgentEnd | undefined;
  try {
    end = await runAgent(agent, session, context, task);
    for (;;) {
      // Group k ends the run after k continuations.
      const index = end.continued.length;
      let result = saved.find((g) => g.index === index);
      if (!result) {
        result = groupResult(index, end);
        saved = (await store.saveGroup(session.id, result)).groups;
      }
      if (index + 1 >= groups.length) break;
      await context.heartbeat();
      end = await runAgent(agent, session, context, task, {
        key: `group-${index + 2}`,
        ...(end.kind === "call" ? { result: { toolCallId: end.toolCallId, output: acknowledgement(result) } } : {}),
        message: request(index + 1),
        freshWindow: true,
      });
    }
    return { findings: saved.flatMap((g) => g.findings), usage: end.usage, stopped: null };
  } catch (err: unknown) {
    // Out of steps or tokens part-way: what the groups before found is still posted, and the reply says what was not reviewed.
    if (err instanceof FlowError && (err.reason === "max_steps" || err.reason === "max_tokens") && saved.length > 0) {
      context.log.warn({ groupsDone: saved.length, groups: groups.length, reason: err.reason }, "review stopped at the session's limit");
      return { findings: saved.flatMap((g) => g.findings), usage: end?.usage, stopped: { reason: err.reason, groupsDone: saved.length } };
    }
    throw err;
  }
}
