import { describe, expect, it } from "@jest/globals";
import { approvalTarget, planPublish, type PlanInput } from "../../../src/agent/publish/plan.js";
import type { BranchHead, ChangePublisher, ChangeRequestBranches, ThreadRef } from "../../../src/sessions/forge-port.js";

/** Where an approved change goes, decided from what a (stub) forge says. */
const SNAPSHOT = "a".repeat(40);
const MOVED = "b".repeat(40);

function publisher(state: { branches: Record<string, { sha: string; protected?: boolean }>; cr?: Partial<ChangeRequestBranches>; defaultBranch?: string }): ChangePublisher {
  const cr: ChangeRequestBranches = { headBranch: "feature", headSha: SNAPSHOT, baseBranch: "main", fork: false, open: true, ...state.cr };
  return {
    defaultBranch: async () => state.defaultBranch ?? "main",
    changeRequestBranches: async () => cr,
    findBranch: async (_t, name): Promise<BranchHead | null> => {
      const b = state.branches[name];
      return b ? { name, sha: b.sha, message: "", protected: b.protected ?? false, url: null } : null;
    },
    findChangeRequest: async () => null,
    coAuthor: () => "",
    pushCommit: async () => {
      throw new Error("no writes while planning");
    },
    openChangeRequest: async () => {
      throw new Error("no writes while planning");
    },
  };
}

const thread = (kind: ThreadRef["kind"]): ThreadRef => ({ forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", kind, number: 12 });
const input = (over: Partial<PlanInput> = {}): PlanInput => ({ thread: thread("change_request"), reference: "#12", sessionId: 7, request: "fix sub", snapshotSha: SNAPSHOT, here: false, ownBranch: null, ...over });

describe("planning a publish", () => {
  it("from an issue: a new branch off the default branch, into it", async () => {
    const planned = await planPublish(publisher({ branches: { trunk: { sha: MOVED } }, defaultBranch: "trunk" }), input({ thread: thread("issue") }));
    expect(planned).toEqual({ kind: "plan", plan: { mode: "new_branch", branch: "forgebot/7-fix-sub", newBranch: true, parentSha: MOVED, parentBranch: "trunk", target: "trunk", stackedOn: null, fork: null } });
  });

  it("from a change request: stacked on its head branch, on its head now", async () => {
    const planned = await planPublish(publisher({ branches: { feature: { sha: MOVED } } }), input());
    expect(planned).toMatchObject({ kind: "plan", plan: { mode: "stacked", branch: "forgebot/7-fix-sub", newBranch: true, parentSha: MOVED, target: "feature", stackedOn: { reference: "#12", branch: "feature" } } });
  });

  it("`apply here` onto the head branch when it is unmoved, unprotected and not the default branch", async () => {
    const planned = await planPublish(publisher({ branches: { feature: { sha: SNAPSHOT } } }), input({ here: true }));
    expect(planned).toMatchObject({ kind: "plan", plan: { mode: "here", branch: "feature", newBranch: false, parentSha: SNAPSHOT, target: null } });
  });

  const stacked = { kind: "change_request", reference: "#12", headBranch: "feature" };
  it.each([
    ["moved", { branches: { feature: { sha: MOVED } } }, "`feature` moved since the snapshot (`aaaaaaa` → `bbbbbbb`)", stacked],
    ["protected", { branches: { feature: { sha: SNAPSHOT, protected: true } } }, "`feature` is a protected branch, which I never write", stacked],
    ["the default branch", { branches: { main: { sha: SNAPSHOT } }, cr: { headBranch: "main" } }, "`main` is the default branch, which I never write", { ...stacked, headBranch: "main" }],
    ["closed", { branches: { feature: { sha: SNAPSHOT } }, cr: { open: false } }, "#12 is merged or closed", stacked],
    ["from a fork", { branches: {}, cr: { fork: true } }, "#12 comes from a fork, which I cannot write to", { kind: "fork", reference: "#12", baseBranch: "main" }],
    ["deleted", { branches: {} }, "#12's branch `feature` no longer exists", null],
  ])("`apply here` on a head branch that is %s is refused, offering the alternative", async (_what, state, reason, offer) => {
    const planned = await planPublish(publisher(state as Parameters<typeof publisher>[0]), input({ here: true }));
    expect(planned.kind).toBe("refused");
    if (planned.kind !== "refused") return;
    expect(planned.reason).toContain(reason);
    expect(planned.offer).toEqual(offer);
  });

  it("a fork's change request: a new branch on the fork's head here, against its base", async () => {
    const planned = await planPublish(publisher({ branches: {}, cr: { fork: true, headSha: MOVED, headBranch: "patch-1", baseBranch: "develop" } }), input());
    expect(planned).toMatchObject({ kind: "plan", plan: { mode: "stacked_fork", newBranch: true, parentSha: MOVED, target: "develop", fork: { reference: "#12", base: "develop" } } });
  });

  it("in forgebot's own change request: onto its own branch only, while it is open and there", async () => {
    const own = "forgebot/3-fix-sub";
    expect(await planPublish(publisher({ branches: { [own]: { sha: MOVED } }, cr: { headBranch: own } }), input({ ownBranch: own }))).toMatchObject({
      kind: "plan",
      plan: { mode: "follow_up", branch: own, newBranch: false, parentSha: MOVED, target: null },
    });
    expect(await planPublish(publisher({ branches: {}, cr: { headBranch: own } }), input({ ownBranch: own }))).toMatchObject({ kind: "refused", reason: `its branch \`${own}\` no longer exists (was it deleted?)` });
    expect(await planPublish(publisher({ branches: { [own]: { sha: MOVED } }, cr: { headBranch: own, open: false } }), input({ ownBranch: own }))).toMatchObject({ kind: "refused", reason: "#12 is merged or closed" });
    expect(await planPublish(publisher({ branches: { other: { sha: MOVED } }, cr: { headBranch: "other" } }), input({ ownBranch: own }))).toMatchObject({ kind: "refused" });
  });

  it("the approval line's target: what a plain `apply` would do", async () => {
    const p = publisher({ branches: {}, cr: { fork: true } });
    expect(await approvalTarget(p, { thread: thread("issue"), reference: "#12", snapshotRef: "main", ownBranch: null })).toEqual({ kind: "new_branch" });
    expect(await approvalTarget(p, { thread: thread("change_request"), reference: "#12", snapshotRef: "x", ownBranch: null })).toEqual({ kind: "fork", reference: "#12", baseBranch: "main" });
    expect(await approvalTarget(p, { thread: thread("change_request"), reference: "#12", snapshotRef: "x", ownBranch: "forgebot/1-a" })).toEqual({ kind: "own", reference: "#12", branch: "forgebot/1-a" });
    const failing = { ...p, changeRequestBranches: async () => Promise.reject(new Error("down")) };
    expect(await approvalTarget(failing, { thread: thread("change_request"), reference: "#12", snapshotRef: "feature", ownBranch: null })).toEqual({ kind: "change_request", reference: "#12", headBranch: "feature" });
  });
});
