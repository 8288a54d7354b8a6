import { describe, expect, it } from "@jest/globals";
import { changeResultText, changesNotEnabledText } from "../../../src/sessions/change-notes.js";

const patch = {
  diff: "diff --git a/a.js b/a.js\n--- a/a.js\n+++ b/a.js\n@@ -1 +1 @@\n-x\n+y ```code```\n",
  stat: " a.js | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)",
  filesChanged: 1,
  insertions: 1,
  deletions: 1,
  baseRef: "main",
  baseSha: "0123456789abcdef0123",
};
const base = { sessionId: 7, summary: "Changed x to y.", patch, commands: [{ command: "npm test", exitCode: 1, outcome: "exit_nonzero" }], patchUrl: "https://bot/sessions/7/patch?sig=s", notes: [], maxChars: 60_000 };

describe("a change session's result", () => {
  it("shows the summary, the commands with exit codes, the stat, the diff folded away and how to apply", () => {
    const text = changeResultText(base);
    expect(text.startsWith("Changed x to y.\n\n**Commands run**\n\n- `npm test` → exit 1")).toBe(true);
    expect(text).toContain("**Changes** against `main` (`0123456789ab`): 1 file changed, 1 insertion(+), 1 deletion(-)");
    // The diff holds ``` itself: its fence is longer, so it cannot be closed early.
    expect(text).toContain("<details><summary>Diff (7 lines)</summary>\n\n````diff\ndiff --git a/a.js b/a.js");
    expect(text).toContain("run `git apply forgebot-session-7.patch`");
    expect(text).toContain("curl -fsSL 'https://bot/sessions/7/patch?sig=s' | git apply");
  });

  it("cuts the diff, and says so, to fit the forge's note size", () => {
    const long = { ...patch, diff: `${patch.diff}${"+line\n".repeat(5000)}` };
    const text = changeResultText({ ...base, patch: long, maxChars: 4000 });
    expect(text.length).toBeLessThanOrEqual(4000 + 120);
    expect(text).toMatch(/\[truncated: showing the first \d+ of \d+ characters of the diff; the whole patch is on the session page\]/);
    expect(text).toContain("git apply");
  });

  it("says so when nothing changed; the refusal is one fixed line", () => {
    expect(changeResultText({ ...base, patch: null, commands: [] })).toBe("Changed x to y.\n\nNo files were changed.");
    expect(changesNotEnabledText("forgebot")).toBe("Code changes are not enabled for you in this repository, so @forgebot did not start a change session.");
  });
});
