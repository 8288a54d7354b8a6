import { noticeMarker } from "./notes.js";
import { inlineCode, shortSha } from "./text.js";

/**
 * The texts of approving and publishing a change: the line a change waiting for `@forgebot apply`
 * ends with, what `apply` answers when there is nothing to apply, and the reply of a publish that
 * went through, was refused, ran into a conflict or failed. Forge words come from the caller
 * (ForgeProfile): "pull request" or "merge request", `#12` or `!12`.
 */

/** Where an approved change would go, as the approval line says it. */
export type ApprovalTarget =
  | { kind: "new_branch" }
  /** A change request thread: stacked on its head branch by default, `apply here` onto it. */
  | { kind: "change_request"; reference: string; headBranch: string }
  /** A change request from a fork: its branch cannot be written. */
  | { kind: "fork"; reference: string; baseBranch: string }
  /** A change request forgebot opened: follow-ups go onto its own branch. */
  | { kind: "own"; reference: string; branch: string };

/** The line a change waiting for approval ends with: how to publish it, and where it would go. */
export function approvalLine(handle: string, changeRequestName: string, target: ApprovalTarget): string {
  const apply = `\`@${handle} apply\``;
  switch (target.kind) {
    case "new_branch":
      return `Reply ${apply} to open a draft ${changeRequestName} with this change.`;
    case "change_request":
      return `Reply ${apply} to open a draft ${changeRequestName} with this change, stacked on ${target.reference} (its base is ${inlineCode(target.headBranch)}), or \`@${handle} apply here\` to commit it onto ${inlineCode(target.headBranch)} itself.`;
    case "fork":
      return `Reply ${apply} to open a draft ${changeRequestName} with this change. ${target.reference} comes from a fork, which I cannot write to, so it would go against ${inlineCode(target.baseBranch)} of this repository and include ${target.reference}'s commits.`;
    case "own":
      return `Reply ${apply} to push this change to ${inlineCode(target.branch)} (${target.reference}).`;
  }
}

/** Why `@forgebot apply` found nothing to do: one note per delivery. */
export type ApplyNothing =
  | { kind: "nothing_waiting" }
  | { kind: "working"; sessionId: number }
  | { kind: "publishing"; sessionId: number }
  | { kind: "ended"; sessionId: number; status: string };

export function applyNothingText(handle: string, why: ApplyNothing): string {
  switch (why.kind) {
    case "nothing_waiting":
      return "There is no change waiting for approval in this thread, so there is nothing to apply.";
    case "working":
      return `Session ${why.sessionId} is still working on its change; reply \`@${handle} apply\` once it shows the diff.`;
    case "publishing":
      return `Session ${why.sessionId} is already publishing its change; its reply will say where it went.`;
    case "ended":
      return `Session ${why.sessionId} has ${why.status === "finished" ? "finished" : `ended (${why.status.replace(/_/g, " ")})`}, so there is no change waiting for approval; its reply says what became of it.`;
  }
}

export function applyNothingNote(handle: string, why: ApplyNothing, deliveryKey: string): string {
  return [applyNothingText(handle, why), "", noticeMarker(`apply delivery=${deliveryKey}`)].join("\n");
}

/** The marker of the one note a reader gets for `apply` in a thread. */
export function applyDeniedMarker(actorId: string): string {
  return noticeMarker(`apply-denied actor=${actorId}`);
}

/** `@forgebot apply` from someone who may not write: nothing is published, once per thread. */
export function applyDeniedNote(input: { mention: string; handle: string; who: string; actorId: string }): string {
  return [`${input.mention} only ${input.who} can apply changes with @${input.handle} here, so nothing was published.`, "", applyDeniedMarker(input.actorId)].join("\n");
}

/** A markdown link whose text is untrusted: brackets cannot end it early. */
function link(text: string, url: string | null): string {
  const safe = text.replace(/[[\]\\]/g, (c) => `\\${c}`);
  return url ? `[${safe}](${url})` : safe;
}

export type PublishedText = {
  changeRequestName: string;
  /** `#14` or `!14`. */
  reference: string;
  commit: { sha: string; url: string | null };
  branch: string;
  /** What became of the change. */
  as:
    | { kind: "opened"; title: string; url: string | null; draft: boolean }
    | { kind: "committed"; onto: string; reference: string }
    | { kind: "pushed"; reference: string };
  /** Stacked on another change request: its reference and head branch. */
  stackedOn?: { reference: string; branch: string } | undefined;
  /** A change request from a fork: its reference, and the branch this one is against. */
  fork?: { reference: string; base: string } | undefined;
  /** The base branch moved since the snapshot: the change was applied three-way on its new head. */
  moved?: { branch: string; from: string; to: string } | undefined;
};

/** The reply of a publish that went through: the change request (or the branch), the commit, how it got there. */
export function publishedText(input: PublishedText): string {
  const commitText = input.commit.url ? `[\`${shortSha(input.commit.sha)}\`](${input.commit.url})` : inlineCode(shortSha(input.commit.sha));
  const lines: string[] = [];
  const { as } = input;
  if (as.kind === "opened") {
    const draft = as.draft ? `Opened draft ${input.changeRequestName} ${input.reference}` : `Opened ${input.changeRequestName} ${input.reference}`;
    lines.push(`${draft}: ${link(as.title, as.url)}`);
    if (!as.draft) lines.push(`This repository does not offer draft ${input.changeRequestName}s, so its title marks it as a draft instead.`);
    lines.push(`Branch ${inlineCode(input.branch)}, commit ${commitText}.`);
  } else if (as.kind === "committed") {
    lines.push(`Committed ${commitText} onto ${inlineCode(as.onto)} (${as.reference}).`);
  } else {
    lines.push(`Pushed ${commitText} to ${inlineCode(input.branch)} (${as.reference}).`);
  }
  if (input.stackedOn) lines.push(`It is stacked on ${input.stackedOn.reference}: its base is ${inlineCode(input.stackedOn.branch)}, so merging it adds the change to ${input.stackedOn.reference}.`);
  if (input.fork) lines.push(`${input.fork.reference} comes from a fork, which I cannot write to, so this ${input.changeRequestName} is against ${inlineCode(input.fork.base)} of this repository and includes ${input.fork.reference}'s commits.`);
  if (input.moved) lines.push(`${inlineCode(input.moved.branch)} moved since the snapshot (${inlineCode(shortSha(input.moved.from))} → ${inlineCode(shortSha(input.moved.to))}): the change was applied three-way on its new head.`);
  return lines.join("\n\n");
}

/** A publish refused before (or by) the forge: the reason, and what the requester can do now. */
export function refusedText(input: {
  reason: string;
  handle: string;
  changeRequestName: string;
  /** Where a plain `apply` would go instead, when that is the way out. */
  offer: Extract<ApprovalTarget, { kind: "change_request" | "fork" }> | null;
}): string {
  const apply = `\`@${input.handle} apply\``;
  const { offer } = input;
  const next =
    offer?.kind === "change_request"
      ? `Reply ${apply} to open a draft ${input.changeRequestName} stacked on ${offer.reference} (its base is ${inlineCode(offer.headBranch)}) instead.`
      : offer?.kind === "fork"
        ? `Reply ${apply} to open a draft ${input.changeRequestName} against ${inlineCode(offer.baseBranch)} of this repository instead, with ${offer.reference}'s commits.`
        : `The change is still waiting: reply ${apply} again once that is fixed, or tell me what to change.`;
  return [`Nothing was published: ${input.reason}.`, next].join("\n\n");
}

/** The base moved and the change does not apply on it three-way: nothing was published. */
export function conflictText(input: { handle: string; branch: string; from: string; to: string; paths: readonly string[] }): string {
  const shown = input.paths.slice(0, 20).map(inlineCode).join(", ");
  const more = input.paths.length > 20 ? ` and ${input.paths.length - 20} more` : "";
  return [
    `Nothing was published: ${inlineCode(input.branch)} moved since the snapshot (${inlineCode(shortSha(input.from))} → ${inlineCode(shortSha(input.to))}) and the change does not apply on its new head.`,
    `Conflicting files: ${shown}${more}.`,
    `The patch is kept on the session page. \`@${input.handle} retry\` makes the change again on the current ${inlineCode(input.branch)}.`,
  ].join("\n\n");
}

/** The forge failed a publish: what failed, and that trying again duplicates nothing. */
export function publishFailedText(input: { handle: string; detail: string }): string {
  return [
    `Publishing failed: ${input.detail}.`,
    `Every step is safe to repeat, so nothing is duplicated: reply \`@${input.handle} apply\` to try again.`,
  ].join("\n\n");
}
