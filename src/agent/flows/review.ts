import type { Flow, FlowOutcome } from "../../sessions/flow.js";
import { reviewOnIssueText } from "../../sessions/notes.js";
import type { AgentDeps } from "../agent.js";
import { repoSettingsNotice } from "../repo-settings.js";
import { placeFindings } from "../review/findings.js";
import { reviewGroups } from "../review/groups.js";
import type { ReviewMetrics } from "../review/metrics.js";
import { DEFAULT_REVIEW_LIMITS, type ReviewLimits } from "../review/plan.js";
import { postReviewOnce } from "../review/post.js";
import { prepareReview } from "../review/prepare.js";
import type { ReviewStore } from "../review/store.js";
import { nothingNewReply, nothingToReviewReply, reviewReply } from "../review/summary.js";

export type ReviewFlowDeps = {
  agent: AgentDeps;
  reviews: ReviewStore;
  metrics: ReviewMetrics;
  /** Group size and count; by default within the agent's step and token limits. */
  limits?: ReviewLimits;
};

/** Groups within the session's limits: a couple of steps per group, a few groups' worth of tokens. */
function limitsFor(agent: AgentDeps): ReviewLimits {
  const maxGroups = Math.max(1, Math.min(DEFAULT_REVIEW_LIMITS.maxGroups, Math.floor(agent.limits.maxSteps / 2)));
  const groupTokens = Math.max(1000, Math.min(DEFAULT_REVIEW_LIMITS.groupTokens, Math.floor(agent.limits.maxTokens / (maxGroups * 3))));
  return { maxGroups, groupTokens };
}

/**
 * `@forgebot review [all] [focus]` on a change request: reads the change at its head, reviews
 * its files group by group with the model, anchors every finding on the diff and posts one
 * review (inline comments with applicable suggestions, the rest in its summary), then answers
 * with what it reviewed, skipped and found. Each stage is recorded, so the flow can run again
 * after a crash without repeating a model call or a post.
 */
export function createReviewFlow(deps: ReviewFlowDeps): Flow {
  const limits = deps.limits ?? limitsFor(deps.agent);
  return {
    name: "review",
    async run(session, context): Promise<FlowOutcome> {
      const finished = (markdown: string, usage?: FlowOutcome["usage"]): FlowOutcome => ({ kind: "finished", markdown, ...(usage ? { usage } : {}) });
      if (session.threadKind !== "change_request") {
        return finished(reviewOnIssueText(context.profile.changeRequestName));
      }
      let record = await prepareReview(deps.reviews, session, context, limits);
      const notice = repoSettingsNotice(record.settingsProblems);
      if (record.status === "nothing_new" && record.scope.kind === "since") return finished(nothingNewReply(record.scope.sha));
      if (record.status === "nothing_to_review") return finished(nothingToReviewReply(record, notice));

      let usage: FlowOutcome["usage"];
      if (!record.findings) {
        const outcome = await reviewGroups(deps.agent, deps.reviews, session, context, record);
        usage = outcome.usage;
        record = await deps.reviews.saveFindings(session.id, placeFindings(outcome.findings, record.files, record.scopedFiles ?? undefined), outcome.stopped);
      }
      record = await postReviewOnce({ reviews: deps.reviews, sessions: deps.agent.sessions, metrics: deps.metrics }, session, context, record, notice);
      const reply = reviewReply({ record, findings: record.findings ?? [], settingsNotice: notice, changeRequestName: context.profile.changeRequestName });
      return finished(reply, usage);
    },
  };
}
