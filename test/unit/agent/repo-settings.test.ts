import { describe, expect, it } from "@jest/globals";
import { DEFAULT_REPO_SETTINGS, globMatcher, loadRepoSettings, parseRepoSettings, repoSettingsNotice } from "../../../src/agent/repo-settings.js";
import { ForgeApiError, type ThreadRef } from "../../../src/sessions/forge-port.js";

const thread: ThreadRef = { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", kind: "change_request", number: 3 };

describe("parseRepoSettings", () => {
  it.each([
    ["an empty file", null, DEFAULT_REPO_SETTINGS, []],
    ["every key", { review: { ignore: ["docs/**"], instructions: "Prefer early returns." }, changes: { protected: ["infra/**"], approval: "never" } },
      { review: { ignore: ["docs/**"], instructions: "Prefer early returns." }, changes: { protected: ["infra/**"], approval: "never" } }, []],
    ["a bad key falls back alone", { review: { ignore: "docs/**", instructions: "Be brief." } },
      { ...DEFAULT_REPO_SETTINGS, review: { ignore: [], instructions: "Be brief." } }, ["review.ignore: expects a list of glob patterns"]],
    ["an unknown section and key", { reviews: {}, changes: { approve: "always" } }, DEFAULT_REPO_SETTINGS, ["reviews: unknown key (known: review, changes)", "changes.approve: unknown key"]],
    ["a wrong approval", { changes: { approval: "sometimes" } }, DEFAULT_REPO_SETTINGS, ["changes.approval: expects always or never"]],
    ["not a mapping", ["a", "b"], DEFAULT_REPO_SETTINGS, ["the file: expects a mapping of keys such as review: and changes:"]],
    ["a section that is not a mapping", { review: "yes" }, DEFAULT_REPO_SETTINGS, ["review: expects a mapping"]],
    ["instructions too long", { review: { instructions: "x".repeat(4001) } }, DEFAULT_REPO_SETTINGS, ["review.instructions: expects at most 4000 characters"]],
  ] as const)("%s", (_name, raw, settings, problems) => {
    expect(parseRepoSettings(raw)).toEqual({ settings, problems });
  });
});

describe("loadRepoSettings", () => {
  const reading = (answer: () => Promise<string>) => ({ readFile: async (_t: ThreadRef, path: string, ref?: string) => (expect([path, ref]).toEqual([".forgebot.yml", "abc123"]), answer()) });

  it("reads the file at the ref and validates it", async () => {
    const loaded = await loadRepoSettings(reading(async () => "review:\n  ignore: ['**/*.snap']\n"), thread, "abc123");
    expect(loaded).toEqual({ settings: { ...DEFAULT_REPO_SETTINGS, review: { ignore: ["**/*.snap"], instructions: null } }, problems: [], found: true });
  });

  it("a missing file is the defaults, silently", async () => {
    expect(await loadRepoSettings(reading(async () => Promise.reject(new ForgeApiError("nope", 404))), thread, "abc123")).toEqual({ settings: DEFAULT_REPO_SETTINGS, problems: [], found: false });
  });

  it("invalid YAML or a failed read is the defaults with a problem, never a throw", async () => {
    expect((await loadRepoSettings(reading(async () => "review: [unclosed"), thread, "abc123")).problems).toEqual(["the file is not valid YAML"]);
    expect((await loadRepoSettings(reading(async () => Promise.reject(new ForgeApiError("boom", 502))), thread, "abc123")).problems).toEqual(["the file could not be read (502)"]);
  });
});

describe("repoSettingsNotice and globMatcher", () => {
  it("names each bad key", () => {
    expect(repoSettingsNotice([])).toBeNull();
    expect(repoSettingsNotice(["review.ignore: expects a list of glob patterns", "the file is not valid YAML"])).toBe(
      "Note: `.forgebot.yml` has problems, so the defaults were used for `review.ignore`: expects a list of glob patterns; `the file is not valid YAML`.",
    );
  });

  it("matches globs, dotfiles included, and nothing for no globs", () => {
    const match = globMatcher([".github/workflows/**", "**/*.lock"]);
    expect(["a/b/yarn.lock", ".github/workflows/ci.yml"].map(match)).toEqual([true, true]);
    expect(["src/lock.ts", ".github/dependabot.yml"].map(match)).toEqual([false, false]);
    expect(globMatcher([])("anything")).toBe(false);
  });
});
