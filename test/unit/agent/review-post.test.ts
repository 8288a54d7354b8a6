import { describe, expect, it } from "@jest/globals";
import { postOrFindReview, REPOST_DELAYS_MS } from "../../../src/agent/review/post.js";
import { createLogger } from "../../../src/logging/logger.js";
import { ForgeApiError, type ThreadRef } from "../../../src/sessions/forge-port.js";
import type { PostedReview, ReviewDraft } from "../../../src/sessions/review-port.js";

/** Posting a review once: a lost answer is looked for, a failure without an answer is posted again only when nothing was found. */
const thread = { repoPath: "o/r", number: 1 } as ThreadRef;
const draft: ReviewDraft = { refs: { baseSha: "b", startSha: "b", headSha: "h" }, marker: "<!-- forgebot:review session=1 -->", comments: [], summary: () => "summary" };
const review: PostedReview = { id: "77", url: "https://forge.test/r/77", comments: [], refused: [] };
const log = createLogger("silent");

/** A forge whose posts fail with `failures` in turn, then succeed; `stored` says whether a failed post was stored anyway. */
function forge(failures: Error[], options: { stored?: boolean; lookupFails?: boolean } = {}) {
  const calls: string[] = [];
  let held: PostedReview | null = null;
  return {
    calls,
    client: {
      async postReview() {
        calls.push("post");
        const failure = failures.shift();
        if (options.stored || !failure) held = review;
        if (failure) throw failure;
        return review;
      },
      async findReview() {
        calls.push("find");
        if (options.lookupFails) throw new ForgeApiError("list reviews failed", 503);
        return held;
      },
    },
  };
}

function run(client: ReturnType<typeof forge>["client"], signal = new AbortController().signal) {
  const slept: number[] = [];
  const result = postOrFindReview(client, thread, draft, { signal, log, sleep: async (ms) => void slept.push(ms) });
  return { result, slept };
}

describe("postOrFindReview", () => {
  it("a 5xx with no review stored: looked for, then posted again after a pause", async () => {
    const f = forge([new ForgeApiError("create review failed (502)", 502)]);
    const { result, slept } = run(f.client);
    expect(await result).toEqual({ posted: review, outcome: "posted" });
    expect(f.calls).toEqual(["post", "find", "post"]);
    expect(slept).toEqual([REPOST_DELAYS_MS[0]]);
  });

  it("a timeout after the forge stored it: found and adopted, never posted again", async () => {
    const f = forge([new ForgeApiError("create review failed", undefined)], { stored: true });
    const { result, slept } = run(f.client);
    expect(await result).toEqual({ posted: review, outcome: "found_existing" });
    expect(f.calls).toEqual(["post", "find"]);
    expect(slept).toEqual([]);
  });

  it("a definite refusal is not posted again", async () => {
    const refusal = new ForgeApiError("create review failed (403)", 403);
    const f = forge([refusal]);
    await expect(run(f.client).result).rejects.toBe(refusal);
    expect(f.calls).toEqual(["post", "find"]);
  });

  it("a lookup that fails too: the post's error, and no second post", async () => {
    const lost = new ForgeApiError("create review failed (504)", 504);
    const f = forge([lost], { lookupFails: true });
    await expect(run(f.client).result).rejects.toBe(lost);
    expect(f.calls).toEqual(["post", "find"]);
  });

  it("gives up after its pauses, with the last post's error", async () => {
    const failures = REPOST_DELAYS_MS.map(() => new ForgeApiError("create review failed (500)", 500));
    const last = new ForgeApiError("create review failed (503)", 503);
    const f = forge([...failures, last]);
    const { result, slept } = run(f.client);
    await expect(result).rejects.toBe(last);
    expect(slept).toEqual([...REPOST_DELAYS_MS]);
    expect(f.calls.filter((c) => c === "post")).toHaveLength(REPOST_DELAYS_MS.length + 1);
  });

  it("a session stopped meanwhile posts nothing more", async () => {
    const controller = new AbortController();
    controller.abort();
    const lost = new ForgeApiError("create review failed (502)", 502);
    const f = forge([lost]);
    await expect(run(f.client, controller.signal).result).rejects.toBe(lost);
    expect(f.calls).toEqual(["post", "find"]);
  });
});
