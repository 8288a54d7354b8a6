import { describe, expect, it } from "@jest/globals";
import { changePolicy, publishRefusalReason } from "../../../src/workspace/policy.js";

/** The policy checked again when publishing, on the files a patch touches, whatever made it. */
const policy = changePolicy({ maxFiles: 2, maxPatchBytes: 1000 }, ["deploy/**"]);
const files = (...paths: string[]) => paths.map((path) => ({ path, oldPath: null }));

describe("publishing's policy", () => {
  it.each([
    [files(".github/workflows/ci.yml"), "the change touches `.github/workflows/ci.yml`, a protected path (`.github/workflows/**`): forgebot never publishes changes to CI definitions or its own settings"],
    [files(".gitlab-ci.yml"), "the change touches `.gitlab-ci.yml`, a protected path (`.gitlab-ci.yml`): forgebot never publishes changes to CI definitions or its own settings"],
    [files("deploy/prod.yml"), "the change touches `deploy/prod.yml`, a protected path (`deploy/**`): the repository's .forgebot.yml protects it (changes.protected)"],
    [[{ path: "ci.yml", oldPath: ".github/workflows/ci.yml" }], "the change touches `.github/workflows/ci.yml`, a protected path (`.github/workflows/**`): forgebot never publishes changes to CI definitions or its own settings"],
    [files("a", "b", "c"), "the change touches 3 files, more than CHANGE_MAX_FILES (2)"],
  ])("refuses %j", (touched, reason) => {
    expect(publishRefusalReason(policy, touched, 10)).toBe(reason);
  });

  it("refuses a patch over CHANGE_MAX_PATCH_BYTES, and lets the rest through", () => {
    expect(publishRefusalReason(policy, files("src/a.js"), 1001)).toBe("the patch has 1001 bytes, more than CHANGE_MAX_PATCH_BYTES (1000)");
    expect(publishRefusalReason(policy, files("src/a.js", "docs/deploy.md"), 1000)).toBeNull();
  });
});
