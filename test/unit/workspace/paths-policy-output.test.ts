import { describe, expect, it } from "@jest/globals";
import { WorkspaceRefusal } from "../../../src/workspace/errors.js";
import { CappedOutput } from "../../../src/workspace/output.js";
import { cleanRelativePath } from "../../../src/workspace/paths.js";
import { changePolicy, protectedBy } from "../../../src/workspace/policy.js";

describe("paths the agent gives", () => {
  const ok: [string, string][] = [
    ["src/a.ts", "src/a.ts"],
    ["./src//a.ts", "src/a.ts"],
    ["", ""],
    ["dir/", "dir"],
  ];
  it.each(ok)("%s → %s", (given, expected) => expect(cleanRelativePath(given)).toBe(expected));
  const refused: [string, RegExp][] = [
    ["../etc/passwd", /may not contain "\.\."/],
    ["src/../../x", /may not contain "\.\."/],
    ["/etc/passwd", /absolute paths are refused/],
    ["C:/x", /absolute paths are refused/],
    [".git/config", /\.git are reserved/],
    ["a\u0000b", /NUL/],
  ];
  it.each(refused)("%s is refused", (given, message) => {
    expect(() => cleanRelativePath(given)).toThrow(WorkspaceRefusal);
    expect(() => cleanRelativePath(given)).toThrow(message);
  });
});

describe("protected paths", () => {
  const policy = changePolicy({ maxFiles: 1, maxPatchBytes: 1 }, ["deploy/**"]);
  it.each([
    [".github/workflows/ci.yml", ".github/workflows/**"],
    [".github/actions/setup/action.yml", ".github/actions/**"],
    [".gitlab-ci.yml", ".gitlab-ci.yml"],
    [".forgebot.yml", ".forgebot.yml"],
    ["deploy/prod/values.yaml", "deploy/**"],
    ["src/app.ts", null],
    [".github/CODEOWNERS", null],
  ])("%s → %s", (path, glob) => expect(protectedBy(policy, path)).toBe(glob));
});

describe("command output", () => {
  it("keeps everything while it fits", () => {
    const out = new CappedOutput(10, 10);
    out.write(Buffer.from("hello "));
    out.write(Buffer.from("world"));
    expect([out.text(), out.truncated, out.totalBytes]).toEqual(["hello world", false, 11]);
  });
  it("keeps head and tail past the cap and says what was cut", () => {
    const out = new CappedOutput(4, 4);
    for (const chunk of ["abcd", "1234567890", "wxyz"]) out.write(Buffer.from(chunk));
    expect(out.text()).toBe("abcd\n\n[output cut: 10 of 18 bytes left out between the first 4 and the last 4]\n\nwxyz");
    expect(out.truncated).toBe(true);
  });
});
