import { describe, expect, it } from "@jest/globals";
import { applyDeniedNote, applyNothingText, approvalLine, conflictText, publishedText, publishFailedText, refusedText } from "../../../src/sessions/publish-notes.js";

describe("the texts of approving and publishing", () => {
  it.each([
    [{ kind: "new_branch" } as const, "Reply `@forgebot apply` to open a draft merge request with this change."],
    [{ kind: "change_request", reference: "!4", headBranch: "fix" } as const, "Reply `@forgebot apply` to open a draft merge request with this change, stacked on !4 (its base is `fix`), or `@forgebot apply here` to commit it onto `fix` itself."],
    [{ kind: "fork", reference: "!4", baseBranch: "main" } as const, "Reply `@forgebot apply` to open a draft merge request with this change. !4 comes from a fork, which I cannot write to, so it would go against `main` of this repository and include !4's commits."],
    [{ kind: "own", reference: "!9", branch: "forgebot/3-x" } as const, "Reply `@forgebot apply` to push this change to `forgebot/3-x` (!9)."],
  ])("the approval line for %j", (target, line) => {
    expect(approvalLine("forgebot", "merge request", target)).toBe(line);
  });

  it("what `apply` answers with nothing to apply", () => {
    expect(applyNothingText("forgebot", { kind: "nothing_waiting" })).toBe("There is no change waiting for approval in this thread, so there is nothing to apply.");
    expect(applyNothingText("forgebot", { kind: "working", sessionId: 3 })).toBe("Session 3 is still working on its change; reply `@forgebot apply` once it shows the diff.");
    expect(applyNothingText("forgebot", { kind: "publishing", sessionId: 3 })).toContain("Session 3 is already publishing its change");
    expect(applyNothingText("forgebot", { kind: "ended", sessionId: 3, status: "stopped" })).toContain("Session 3 has ended (stopped)");
    expect(applyDeniedNote({ mention: "@eve", handle: "forgebot", who: "people with write access", actorId: "9" })).toMatch(/^@eve only people with write access can apply changes with @forgebot here, so nothing was published\.\n\n<!-- forgebot:notice apply-denied actor=9 -->$/);
  });

  it("a published change: the change request with its link, the branch and the commit; an untrusted title cannot break the link", () => {
    const text = publishedText({
      changeRequestName: "pull request",
      reference: "#14",
      commit: { sha: "abcdef1234567890", url: "https://github.test/c/abcdef1" },
      branch: "forgebot/7-fix",
      as: { kind: "opened", title: "Fix ] (evil)[x](javascript:alert(1))", url: "https://github.test/pull/14", draft: true },
      stackedOn: { reference: "#12", branch: "feature" },
      moved: { branch: "feature", from: "1111111aaaa", to: "2222222bbbb" },
    });
    expect(text.split("\n\n")[0]).toBe("Opened draft pull request #14: [Fix \\] (evil)\\[x\\](javascript:alert(1))](https://github.test/pull/14)");
    expect(text).toContain("Branch `forgebot/7-fix`, commit [`abcdef1`](https://github.test/c/abcdef1).");
    expect(text).toContain("It is stacked on #12: its base is `feature`");
    expect(text).toContain("`feature` moved since the snapshot (`1111111` → `2222222`): the change was applied three-way on its new head.");
    expect(publishedText({ changeRequestName: "pull request", reference: "#14", commit: { sha: "abcdef1234", url: null }, branch: "b", as: { kind: "opened", title: "T", url: null, draft: false } })).toContain("This repository does not offer draft pull requests");
    expect(publishedText({ changeRequestName: "merge request", reference: "!4", commit: { sha: "abcdef1234", url: null }, branch: "fix", as: { kind: "committed", onto: "fix", reference: "!4" } })).toBe("Committed `abcdef1` onto `fix` (!4).");
  });

  it("refused, conflicting and failed publishes say why and what to do", () => {
    expect(refusedText({ reason: "`fix` is a protected branch, which I never write", handle: "forgebot", changeRequestName: "pull request", offer: { kind: "change_request", reference: "#3", headBranch: "fix" } })).toBe(
      "Nothing was published: `fix` is a protected branch, which I never write.\n\nReply `@forgebot apply` to open a draft pull request stacked on #3 (its base is `fix`) instead.",
    );
    expect(refusedText({ reason: "x", handle: "forgebot", changeRequestName: "pull request", offer: null })).toContain("The change is still waiting");
    const conflict = conflictText({ handle: "forgebot", branch: "main", from: "a".repeat(40), to: "b".repeat(40), paths: ["src/a.js", "src/b.js"] });
    expect(conflict).toContain("Conflicting files: `src/a.js`, `src/b.js`.");
    expect(conflict).toContain("`@forgebot retry` makes the change again on the current `main`.");
    expect(publishFailedText({ handle: "forgebot", detail: "GitHub create tree failed (403)" })).toContain("reply `@forgebot apply` to try again");
  });
});
