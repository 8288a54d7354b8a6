import { afterEach, describe, expect, it } from "@jest/globals";
import { ForgeApiError, type ThreadRef } from "../../../src/sessions/forge-port.js";
import { createWriteBudget, noteKind, writeScope, type ClosableWriteBudget, type WriteKind } from "../../../src/forges/write-budget.js";
import { createLogger } from "../../../src/logging/logger.js";

const thread: ThreadRef = { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", installationId: 7, kind: "issue", number: 1 };
const other: ThreadRef = { ...thread, installationId: 8 };
let budget: ClosableWriteBudget | undefined;

function make(perMinute: number): ClosableWriteBudget {
  budget = createWriteBudget({
    limits: { github: { perMinute, perHour: null, deletesPerMinute: perMinute }, gitlab: { perMinute, perHour: null, deletesPerMinute: perMinute } },
    prefix: "unit",
    log: createLogger("silent"),
  });
  return budget;
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

  it("keys budgets by installation and by GitLab host", () => {
    expect(writeScope(thread)).not.toBe(writeScope(other));
    expect(writeScope({ ...thread, forge: "gitlab", host: "gitlab.com", installationId: undefined })).toBe("gitlab-gitlab.com");
  });

  it("lets started notes go before queued replies once the budget is spent", async () => {
    // 120 a minute: a burst of 60, then one a second. Spend the burst, then queue the rest.
    const b = make(120);
    const order: string[] = [];
    const write = (kind: WriteKind, name: string) => b.run(thread, kind, async () => void order.push(name));
    await Promise.all(Array.from({ length: 60 }, (_, i) => write("reply", `warm-${i}`)));
    const queued = [write("reply", "reply"), write("notice", "notice"), write("started_note", "started")];
    await Promise.all(queued);
    expect(order.slice(60)).toEqual(["started", "notice", "reply"]);
  }, 10_000);

  it("keeps deletes on a budget of their own: a delete backlog never holds a started note", async () => {
    const b = make(120);
    const order: string[] = [];
    await Promise.all(Array.from({ length: 60 }, (_, i) => b.run(thread, "delete", async () => void order.push(`delete-${i}`))));
    const t0 = Date.now();
    await b.run(thread, "started_note", async () => void order.push("started"));
    expect(Date.now() - t0).toBeLessThan(500);
    expect(order.at(-1)).toBe("started");
  }, 10_000);

  it("never lets a window see more than the budget", async () => {
    const b = make(120);
    const stamps: number[] = [];
    const started = Date.now();
    const jobs = Array.from({ length: 70 }, () => b.run(thread, "reply", async () => void stamps.push(Date.now() - started)));
    await Promise.race([Promise.all(jobs), new Promise((r) => setTimeout(r, 3_500))]);
    // A burst of 60, then one a second: after 3.5 s, 63 writes — never the 70 asked for.
    expect(stamps.filter((t) => t < 500)).toHaveLength(60);
    expect(stamps.length).toBeGreaterThanOrEqual(62);
    expect(stamps.length).toBeLessThanOrEqual(64);
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

  it("does not retry other errors", async () => {
    const b = make(1000);
    let calls = 0;
    await expect(b.run(thread, "reply", async () => { calls++; throw new ForgeApiError("boom", 500); })).rejects.toThrow("boom");
    expect(calls).toBe(1);
  });
});
