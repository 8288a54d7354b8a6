import { describe, expect, it } from "@jest/globals";
import { createStepRunner } from "../../../src/agent/publish/steps.js";
import type { PublishStore, RecordedStep, StepClaim } from "../../../src/agent/publish/store.js";
import { createLogger } from "../../../src/logging/logger.js";
import { publishSteps } from "../../../src/metrics/flows.js";
import { ForgeApiError } from "../../../src/sessions/forge-port.js";

/** The step runner: claims ahead, reuses what is recorded, looks first on a repeat, retries a lost answer looking first. */
class MemoryPublishStore implements PublishStore {
  rows = new Map<string, { result: unknown }>();
  async claimStep(sessionId: number, run: number, step: RecordedStep): Promise<StepClaim> {
    const key = `${sessionId}/${run}/${step}`;
    const row = this.rows.get(key);
    if (row) return { first: false, result: row.result };
    this.rows.set(key, { result: null });
    return { first: true, result: null };
  }
  async completeStep(sessionId: number, run: number, step: RecordedStep, result: unknown) {
    this.rows.set(`${sessionId}/${run}/${step}`, { result });
  }
  async markPublished() {}
  async findPublished() {
    return null;
  }
}

const log = createLogger("silent");
const runner = (store: PublishStore, run = 1) => createStepRunner({ store, forge: "github", sessionId: 1, run, log, signal: new AbortController().signal, sleep: async () => undefined });
async function counted(step: string, outcome: string): Promise<number> {
  const { values } = await publishSteps.get();
  return values.find((v) => v.labels.forge === "github" && v.labels.step === step && v.labels.outcome === outcome)?.value ?? 0;
}

describe("publish steps", () => {
  it("a first attempt creates without looking; a repeat of a recorded step returns the record", async () => {
    const store = new MemoryPublishStore();
    let finds = 0;
    let creates = 0;
    const actions = { find: async () => (finds++, null), create: async () => (creates++, { sha: "t1" }) };
    expect(await runner(store).run("tree", actions)).toEqual({ sha: "t1" });
    expect(await runner(store).run("tree", actions)).toEqual({ sha: "t1" });
    expect({ finds, creates }).toEqual({ finds: 0, creates: 1 });
  });

  it("a step claimed but never recorded (the worker died) looks first and adopts what it finds", async () => {
    const store = new MemoryPublishStore();
    await store.claimStep(1, 1, "branch");
    const before = await counted("branch", "found_existing");
    let creates = 0;
    const found = await runner(store).run("branch", { find: async () => ({ sha: "c1" }), create: async () => (creates++, { sha: "c2" }) });
    expect(found).toEqual({ sha: "c1" });
    expect(creates).toBe(0);
    expect(await counted("branch", "found_existing")).toBe(before + 1);
  });

  it("a forge that gave no answer may have written: the step is tried again, looking first", async () => {
    const store = new MemoryPublishStore();
    let creates = 0;
    let written = false;
    const result = await runner(store).run("commit", {
      find: async () => (written ? { sha: "c1" } : null),
      create: async () => {
        creates++;
        written = true;
        throw new ForgeApiError("GitLab POST projects/5/repository/commits timed out", undefined);
      },
    });
    expect(result).toEqual({ sha: "c1" });
    expect(creates).toBe(1);
  });

  it("a definite refusal is not retried, and counts as an error", async () => {
    const store = new MemoryPublishStore();
    const before = await counted("change_request", "error");
    let creates = 0;
    const failing = runner(store).run("change_request", {
      create: async () => {
        creates++;
        throw new ForgeApiError("GitHub create pull request failed (403)", 403);
      },
    });
    await expect(failing).rejects.toThrow("(403)");
    expect(creates).toBe(1);
    expect(await counted("change_request", "error")).toBe(before + 1);
  });

  it("another run (a new `apply`) starts its steps afresh", async () => {
    const store = new MemoryPublishStore();
    await runner(store, 2).run("tree", { create: async () => ({ sha: "old" }) });
    expect(await runner(store, 4).run("tree", { create: async () => ({ sha: "new" }) })).toEqual({ sha: "new" });
  });

  it("no forge request starts once the run is stopped", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stopped"));
    const steps = createStepRunner({ store: new MemoryPublishStore(), forge: "github", sessionId: 1, run: 1, log, signal: controller.signal });
    let wrote = false;
    await expect(steps.write(async () => (wrote = true))).rejects.toThrow("stopped");
    expect(wrote).toBe(false);
  });
});

describe("a duplicate the forge refused", () => {
  it("counts as found, not made, when the step adopts what it then found (a 422 \"Reference already exists\")", async () => {
    const store = new MemoryPublishStore();
    const before = { found: await counted("branch", "found_existing"), ok: await counted("branch", "ok") };
    const result = await runner(store).run("branch", { create: async (adopt) => adopt({ sha: "theirs-was-ours" }) });
    expect(result).toEqual({ sha: "theirs-was-ours" });
    expect(await counted("branch", "found_existing")).toBe(before.found + 1);
    expect(await counted("branch", "ok")).toBe(before.ok);
  });
});
