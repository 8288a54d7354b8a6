import { afterAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { ProbotOctokit } from "probot";
import { createAgentTools } from "../../../src/agent/tools.js";
import { ForgeApiError, type ForgeClient, type ThreadRef } from "../../../src/sessions/forge-port.js";
import { createGitHubClient } from "../../../src/forges/github/client.js";
import { TestOctokit } from "../../helpers/bot.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { nockGitHub } from "../../helpers/nock-github.js";

const REPO = "octo/repo";
let fake: FakeGitHub;
let client: ForgeClient;

function thread(kind: ThreadRef["kind"], number: number): ThreadRef {
  return { forge: "github", host: "github.com", repoId: "1", repoPath: REPO, installationId: 1, kind, number };
}

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitHub();
  nockGitHub(fake);
  const octokit = new TestOctokit({ auth: "ghs_test" }) as unknown as ProbotOctokit;
  client = createGitHubClient(octokit, thread("issue", 1), ["write"]);
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitHub read tools (ForgeClient reads)", () => {
  it("reads an issue with its comments, authors and edit times", async () => {
    fake.threads.set(`${REPO}#5`, { title: "Bug", body: "Steps", author: "octo" });
    fake.addComment({ repo: REPO, number: 5, author: "alice", body: "first", createdAt: "2024-01-01T00:00:00Z" });
    fake.addComment({ repo: REPO, number: 5, author: "bob", body: "second", createdAt: "2024-01-02T00:00:00Z", updatedAt: "2024-01-03T00:00:00Z" });
    const content = await client.getThread!(thread("issue", 5));
    expect(content).toMatchObject({ title: "Bug", body: "Steps", author: "octo", url: `https://github.test/${REPO}/issues/5` });
    expect(content.comments.map((c) => [c.author, c.body, c.createdAt, c.updatedAt])).toEqual([
      ["alice", "first", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
      ["bob", "second", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"],
    ]);
  });

  it("reads a pull request: head commit, review comments marked with their file, and the diff", async () => {
    fake.threads.set(`${REPO}#6`, {
      title: "Feature",
      body: "Adds it",
      author: "octo",
      headSha: "abc123",
      files: [
        { filename: "src/a.ts", status: "modified", patch: "@@ -1 +1 @@\n-old\n+new" },
        { filename: "logo.png", status: "added" },
      ],
    });
    fake.addComment({ repo: REPO, number: 6, kind: "review_comment", path: "src/a.ts", author: "carol", body: "nit", createdAt: "2024-01-01T00:00:00Z" });
    const content = await client.getThread!(thread("change_request", 6));
    expect(content.headRef).toBe("abc123");
    expect(content.comments.map((c) => c.body)).toEqual(["(review comment on src/a.ts)\nnit"]);
    const diff = await client.getDiff!(thread("change_request", 6));
    expect(diff).toBe(
      [
        "diff --git a/src/a.ts b/src/a.ts",
        "--- a/src/a.ts",
        "+++ b/src/a.ts",
        "@@ -1 +1 @@\n-old\n+new",
        "diff --git a/logo.png b/logo.png",
        "new file",
        "--- /dev/null",
        "+++ b/logo.png",
        "[no textual diff: binary or too large for GitHub to show]",
      ].join("\n"),
    );
  });

  it("reads files and directories at a ref; a missing path is a 404 ForgeApiError", async () => {
    fake.files.set("src/index.ts", "export const x = 1;\n");
    fake.files.set("src/lib/util.ts", "export {};\n");
    expect(await client.readFile!(thread("issue", 1), "src/index.ts", "main")).toBe("export const x = 1;\n");
    expect(fake.requests.at(-1)?.query).toContain("ref=main");
    expect(await client.listDirectory!(thread("issue", 1), "src")).toEqual([
      { name: "index.ts", path: "src/index.ts", type: "file" },
      { name: "lib", path: "src/lib", type: "dir" },
    ]);
    const missing = await client.readFile!(thread("issue", 1), "nope.ts").catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(ForgeApiError);
    expect((missing as ForgeApiError).status).toBe(404);
    await expect(client.readFile!(thread("issue", 1), "src")).rejects.toThrow("is a directory");
  });

  it("the agent's file tools read a pull request at its head commit by default", async () => {
    fake.threads.set(`${REPO}#7`, { title: "PR", body: "", author: "octo", headSha: "feedbeef", files: [] });
    fake.files.set("README.md", "# Hi\n");
    const tools = createAgentTools({ forge: client, thread: thread("change_request", 7), triggerCreatedAt: new Date().toISOString(), triggerCommentId: null });
    const output = await tools.read_file!.execute!({ path: "README.md" }, { toolCallId: "1", messages: [] });
    expect(output).toContain("# Hi");
    expect(output).toContain('ref="feedbeef"');
    expect(fake.requests.find((r) => r.path.endsWith("/contents/README.md"))?.query).toContain("ref=feedbeef");
    expect(await tools.read_file!.execute!({ path: "missing.md" }, { toolCallId: "2", messages: [] })).toBe("Not found: missing.md");
  });
});
