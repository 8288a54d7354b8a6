import { afterEach, describe, expect, it } from "@jest/globals";
import { ForgeApiError, type ThreadRef } from "../../../src/sessions/forge-port.js";
import { createWriteBudget, noteKind, type ClosableWriteBudget, type WriteBudgetOptions, type WriteKind, type WriteTarget } from "../../../src/forges/write-budget.js";
import { TEST_REDIS_URL } from "../../helpers/db.js";
import { withWriteBudget } from "../../../src/forges/write-budget.js";
import type { ChangePublisher, Forge, ForgeClient, PublishSteps } from "../../../src/sessions/forge-port.js";
import type { ReviewDraft } from "../../../src/sessions/review-port.js";
import { createGitHubApp } from "../../../src/forges/github/app.js";
import { createGitLabApp } from "../../../src/forges/gitlab/app.js";
import { testPrivateKey } from "../../helpers/github-app.js";
import { createLogger } from "../../../src/logging/logger.js";

const thread: WriteTarget = { forge: "github", scope: "github-github.com-7" };
const other: WriteTarget = { forge: "github", scope: "github-github.com-8" };
const issue: ThreadRef = { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", installationId: 7, kind: "issue", number: 1 };
let budget: ClosableWriteBudget | undefined;

function options(perMinute: number, extra: { windowMs?: number } = {}): WriteBudgetOptions {
  return {
    limits: { github: { perMinute, perHour: null, deletesPerMinute: perMinute }, gitlab: { perMinute, perHour: null, deletesPerMinute: perMinute }, ...extra },
    prefix: "unit",
    log: createLogger("silent"),
  };
}

function make(perMinute: number, extra: { windowMs?: number } = {}): ClosableWriteBudget {
  budget = createWriteBudget(options(perMinute, extra));
  return budget;
}

/** The most stamps in any window of `ms`. */
function maxInAnyWindow(stamps: number[], ms: number): number {
  const sorted = [...stamps].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

afterEach(async () => {
  await budget?.close();
  budget = undefined;
});

describe("write budget", () => {
  it("reads the kind of a write from the note's marker", () => {
    expect(noteKind("Started…\n<!-- forgebot:started session=1 -->")).toBe("started_note");
    expect(noteKind("Done\n<!-- forgebot:reply session=1 -->")).toBe("reply");
    expect(noteKind("only people with write access…")).toBe("notice");
  });

  it("keys budgets by GitHub installation and by GitLab host (the scope each forge gives)", () => {
    const log = createLogger("silent");
    const github = createGitHubApp({
      config: { appId: "1", privateKey: testPrivateKey(), webhookSecret: "s", baseUrl: "https://api.github.com", host: "github.com", allowedRoles: ["write"], requestTimeoutMs: 1000 },
      log,
    });
    expect(github.writeScope(issue)).not.toBe(github.writeScope({ ...issue, installationId: 8 }));
    expect(github.writeScope(issue)).toBe(github.writeScope({ ...issue, repoPath: "o/other", number: 2 }));
    const gitlab = createGitLabApp({ config: { url: "https://gitlab.com", host: "gitlab.com", token: "t", webhookSecret: "s", minAccessLevel: 30 }, log });
    const mr: ThreadRef = { forge: "gitlab", host: "gitlab.com", repoId: "5", repoPath: "g/p", kind: "change_request", number: 3 };
    expect(gitlab.writeScope(mr)).toBe(gitlab.writeScope({ ...mr, repoId: "6", repoPath: "g/q" }));
  });

  it("admits the whole limit at once, then one more each time an admission leaves the window", async () => {
    // 20 a window of 1 s: no half-size burst, and never 21 in any 1 s.
    const b = make(20, { windowMs: 1000 });
    const stamps: number[] = [];
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, () => b.run(thread, "notice", async () => void stamps.push(Date.now() - started))));
    expect(stamps.filter((t) => t < 300)).toHaveLength(20);
    expect(maxInAnyWindow(stamps, 1000)).toBeLessThanOrEqual(20);
    expect(Math.max(...stamps)).toBeGreaterThanOrEqual(950);
  }, 10_000);

  it("an hourly limit holds beside the minute's", async () => {
    const b = createWriteBudget({ ...options(100), limits: { ...options(100).limits, github: { perMinute: 100, perHour: 5, deletesPerMinute: 100 } } });
    budget = b;
    let done = 0;
    const writes = Array.from({ length: 6 }, () => b.run(thread, "notice", async () => void done++));
    await Promise.race([Promise.all(writes), new Promise((r) => setTimeout(r, 800))]);
    expect(done).toBe(5);
    await b.close();
    await Promise.allSettled(writes);
  });

  it("keeps a tenth of each window for started notes: a reply flood never makes a new mention wait", async () => {
    const b = make(20, { windowMs: 1000 });
    const started = Date.now();
    const replies = Array.from({ length: 30 }, () => b.run(thread, "reply", async () => Date.now() - started));
    await new Promise((r) => setTimeout(r, 100));
    const note = await b.run(thread, "started_note", async () => Date.now() - started);
    const times = await Promise.all(replies);
    expect(times.filter((t) => t < 300)).toHaveLength(18);
    expect(note).toBeLessThan(300);
  }, 10_000);

  it("lets started notes go before queued replies once the budget is spent", async () => {
    const b = make(10, { windowMs: 600 });
    const order: string[] = [];
    const write = (kind: WriteKind, name: string) => b.run(thread, kind, async () => void order.push(name));
    await Promise.all(Array.from({ length: 10 }, (_, i) => write("notice", `warm-${i}`)));
    const queued = [write("reply", "reply"), write("notice", "notice"), write("started_note", "started")];
    await Promise.all(queued);
    expect(order.slice(10)).toEqual(["started", "notice", "reply"]);
  }, 10_000);

  it("keeps deletes on a budget of their own: a delete backlog never holds a started note", async () => {
    const b = make(20, { windowMs: 1000 });
    const order: string[] = [];
    const deletes = Array.from({ length: 30 }, (_, i) => b.run(thread, "delete", async () => void order.push(`delete-${i}`)));
    const t0 = Date.now();
    await b.run(thread, "started_note", async () => void order.push("started"));
    expect(Date.now() - t0).toBeLessThan(300);
    await Promise.all(deletes);
    expect(order.indexOf("started")).toBeLessThan(order.indexOf("delete-25"));
  }, 10_000);

  it("processes sharing Redis share one window", async () => {
    const prefix = `unit-${Date.now()}`;
    const a = createWriteBudget({ ...options(10, { windowMs: 1000 }), redisUrl: TEST_REDIS_URL, prefix });
    const c = createWriteBudget({ ...options(10, { windowMs: 1000 }), redisUrl: TEST_REDIS_URL, prefix });
    try {
      const stamps: number[] = [];
      const started = Date.now();
      const write = (x: ClosableWriteBudget) => x.run(thread, "reply", async () => void stamps.push(Date.now() - started));
      await Promise.all(Array.from({ length: 16 }, (_, i) => write(i % 2 ? a : c)));
      // A reply may use 9 of the 10: one is kept for started notes.
      // Measured from the first admission: connecting to Redis may take a while under load.
      const first = Math.min(...stamps);
      expect(stamps.filter((t) => t - first < 300)).toHaveLength(9);
      expect(maxInAnyWindow(stamps, 1000)).toBeLessThanOrEqual(10);
    } finally {
      await Promise.all([a.close(), c.close()]);
    }
  }, 10_000);

  it("keeps writing, counted in this process, while Redis is unreachable", async () => {
    const b = createWriteBudget({ ...options(5, { windowMs: 1000 }), redisUrl: "redis://127.0.0.1:1" });
    budget = b;
    const stamps: number[] = [];
    const started = Date.now();
    await Promise.all(Array.from({ length: 7 }, () => b.run(thread, "notice", async () => void stamps.push(Date.now() - started))));
    expect(stamps.filter((t) => t < 500)).toHaveLength(5);
    expect(maxInAnyWindow(stamps, 1000)).toBeLessThanOrEqual(5);
  }, 10_000);

  it("pauses the whole installation on a 429 and retries after Retry-After", async () => {
    const b = make(1000);
    let calls = 0;
    const times: Record<string, number> = {};
    const t0 = Date.now();
    const limited = b.run(thread, "reply", async () => {
      calls++;
      if (calls === 1) throw new ForgeApiError("rate limited", 429, { retryAfterMs: 1500 });
      times.limited = Date.now() - t0;
      return "ok";
    });
    await new Promise((r) => setTimeout(r, 100));
    const sameInstallation = b.run(thread, "started_note", async () => void (times.same = Date.now() - t0));
    const otherInstallation = b.run(other, "started_note", async () => void (times.other = Date.now() - t0));
    await expect(limited).resolves.toBe("ok");
    await Promise.all([sameInstallation, otherInstallation]);
    expect(calls).toBe(2);
    expect(times.limited).toBeGreaterThanOrEqual(1400);
    expect(times.same).toBeGreaterThanOrEqual(1400);
    expect(times.other).toBeLessThan(1000);
  });

  it("fails a rate-limited delete at once, and pauses deletes only: posts go on", async () => {
    const b = make(1000);
    let deletes = 0;
    const t0 = Date.now();
    const del = b.run(thread, "delete", async () => {
      deletes++;
      throw new ForgeApiError("rate limited", 429, { retryAfterMs: 2000 });
    });
    await expect(del).rejects.toMatchObject({ status: 429 });
    expect(deletes).toBe(1);
    await b.run(thread, "reply", async () => undefined);
    expect(Date.now() - t0).toBeLessThan(1000);
    // The next delete of the scope waits out the pause the forge asked for.
    let later = 0;
    await b.run(thread, "delete", async () => void (later = Date.now() - t0));
    expect(later).toBeGreaterThanOrEqual(1900);
  }, 10_000);

  it("does not retry other errors", async () => {
    const b = make(1000);
    let calls = 0;
    await expect(b.run(thread, "reply", async () => { calls++; throw new ForgeApiError("boom", 500); })).rejects.toThrow("boom");
    expect(calls).toBe(1);
  });

  it("posts a review through the budget as a `review` write, after started notes", async () => {
    const seen: { kind: WriteKind; scope: string }[] = [];
    const budget = { run: <T>(target: WriteTarget, kind: WriteKind, fn: () => Promise<T>) => (seen.push({ kind, scope: target.scope }), fn()) };
    const posted = { id: "1", url: null, comments: [], refused: [] };
    const client = { postReview: async () => posted, findReview: async () => null } as unknown as ForgeClient;
    const forge: Forge = { name: "github", profile: {} as Forge["profile"], clientFor: async () => client };
    const budgeted = await withWriteBudget(forge, budget, () => "scope-1").clientFor(issue);
    const draft = { refs: { baseSha: "b", startSha: "b", headSha: "h" }, marker: "m", comments: [], summary: () => "s" } satisfies ReviewDraft;
    await expect(budgeted.postReview!(issue, draft)).resolves.toBe(posted);
    await expect(budgeted.findReview!(issue, draft)).resolves.toBeNull();
    // Reads stay outside the budget.
    expect(seen).toEqual([{ kind: "review", scope: "scope-1" }]);

    const b = make(10, { windowMs: 600 });
    const order: string[] = [];
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.run(thread, "notice", async () => void order.push(`warm-${i}`))));
    await Promise.all([b.run(thread, "review", async () => void order.push("review")), b.run(thread, "started_note", async () => void order.push("started"))]);
    expect(order.slice(10)).toEqual(["started", "review"]);
  }, 10_000);

  it("counts every write request of a publish: `commit` for the commit's, `change_request` for the pull request; reads stay outside", async () => {
    const seen: { kind: WriteKind; scope: string }[] = [];
    const budget = { run: <T>(target: WriteTarget, kind: WriteKind, fn: () => Promise<T>) => (seen.push({ kind, scope: target.scope }), fn()) };
    const publish: ChangePublisher = {
      defaultBranch: async () => "main",
      changeRequestBranches: async () => ({ headBranch: "f", headSha: "s", baseBranch: "main", fork: false, open: true }),
      findBranch: async () => null,
      findChangeRequest: async () => null,
      coAuthor: () => "x <x@y>",
      async pushCommit(_t, _input, steps) {
        await steps.write(async () => "blob");
        await steps.write(async () => "tree");
        await steps.write(async () => "commit");
        return { sha: "c", url: null };
      },
      async openChangeRequest(_t, _input, steps) {
        await steps.write(async () => "pull");
        return { number: 1, url: null, title: "t", draft: true };
      },
    };
    const forge: Forge = { name: "github", profile: {} as Forge["profile"], clientFor: async () => ({ publish }) as unknown as ForgeClient };
    const budgeted = await withWriteBudget(forge, budget, () => "scope-1").clientFor(issue);
    const steps: PublishSteps = { run: (_step, actions) => actions.create((found) => found), write: (request) => request() };
    await budgeted.publish!.defaultBranch(issue);
    await budgeted.publish!.pushCommit(issue, { branch: "b", newBranch: true, parentSha: "p", files: [], message: "m", marker: "m" }, steps);
    await budgeted.publish!.openChangeRequest(issue, { branch: "b", base: "main", title: "t", body: "" }, steps);
    expect(seen).toEqual([
      { kind: "commit", scope: "scope-1" },
      { kind: "commit", scope: "scope-1" },
      { kind: "commit", scope: "scope-1" },
      { kind: "change_request", scope: "scope-1" },
    ]);
  });
});
