import { afterAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import type { ForgeClient, ThreadRef } from "../../../../src/sessions/forge-port.js";
import { createGitLabApi } from "../../../../src/forges/gitlab/api.js";
import { createGitLabClient } from "../../../../src/forges/gitlab/client.js";
import { READ_LIMITS } from "../../../../src/forges/gitlab/reads.js";
import { createGitLabRequesterFn } from "../../../../src/forges/gitlab/requester.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../../helpers/fake-gitlab.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../../helpers/nock-gitlab.js";

const MR: ThreadRef = { forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number: 1 };
const ISSUE: ThreadRef = { ...MR, kind: "issue", number: 17 };
const HEAD_SHA = "562e173be03b8ff2efb05345d12df18815438a4b";

let fake: FakeGitLab;

function client(thread: ThreadRef): Required<ForgeClient> {
  const requesterFn = createGitLabRequesterFn({ sleep: async () => undefined });
  const api = createGitLabApi({ url: FAKE_GITLAB_URL, token: FAKE_GITLAB_TOKEN, requesterFn, queryTimeoutMs: 5000 });
  return createGitLabClient(api, thread, { minAccessLevel: 30, selfUserId: String(fake.bot.id) }) as Required<ForgeClient>;
}

/** Answers GET `path` (query ignored) with `body`. */
function serve(path: string, body: unknown, headers?: Record<string, string>): void {
  fake.interceptors.push((r) => (r.method === "GET" && r.path === path ? [200, body, headers] : undefined));
}

beforeEach(() => {
  nock.cleanAll();
  fake = new FakeGitLab();
  nockGitLab(fake);
  serve("/projects/5/merge_requests/1", {
    iid: 1,
    title: "Fix the parser",
    description: "Closes #3",
    author: { username: "alice" },
    web_url: "https://gitlab.example.com/gitlab-org/gitlab-test/-/merge_requests/1",
    sha: HEAD_SHA,
    source_branch: "fix-parser",
  });
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitLab read tools", () => {
  it("getThread: title, body, head sha and notes oldest first; internal notes stay out of a public thread", async () => {
    fake.seedNote({ id: 1, projectId: 5, noteable: "merge_requests", iid: 1, body: "public question" });
    fake.seedNote({ id: 2, projectId: 5, noteable: "merge_requests", iid: 1, body: "internal: the CVE id", internal: true });
    fake.seedNote({ id: 3, projectId: 5, noteable: "merge_requests", iid: 1, body: "public answer" });
    const content = await client(MR).getThread(MR);
    expect(content).toMatchObject({ title: "Fix the parser", body: "Closes #3", author: "alice", headRef: HEAD_SHA });
    expect(content.comments.map((c) => c.body)).toEqual(["public question", "public answer"]);

    const internal = await client({ ...MR, internal: true }).getThread({ ...MR, internal: true });
    expect(internal.comments.map((c) => c.body)).toEqual(["public question", "internal: the CVE id", "public answer"]);
  });

  it("getThread on an issue reads /issues/:iid and says when earlier comments were left out", async () => {
    serve("/projects/5/issues/17", { iid: 17, title: "Crash", description: null, author: { username: "bob" }, web_url: "u" });
    for (let i = 0; i < READ_LIMITS.comments + 5; i += 1) fake.seedNote({ id: 1000 + i, projectId: 5, noteable: "issues", iid: 17, body: `c${i}` });
    const content = await client(ISSUE).getThread(ISSUE);
    expect(content.title).toBe("Crash");
    expect(content.headRef).toBeUndefined();
    expect(content.comments).toHaveLength(READ_LIMITS.comments + 1);
    expect(content.comments[0]!.body).toContain("earlier comments omitted");
    expect(content.comments.at(-1)!.body).toBe(`c${READ_LIMITS.comments + 4}`);
  });

  it("getDiff renders unified diffs and truncates with a notice", async () => {
    serve("/projects/5/merge_requests/1/diffs", [
      { old_path: "README.md", new_path: "README.md", diff: "@@ -1 +1 @@\n-old\n+new\n" },
      { old_path: "big.txt", new_path: "big.txt", new_file: true, diff: `@@ -0,0 +1 @@\n+${"x".repeat(READ_LIMITS.diffChars)}` },
    ]);
    const diff = await client(MR).getDiff(MR);
    expect(diff.startsWith("diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-old\n+new\ndiff --git a/big.txt b/big.txt\nnew file\n--- /dev/null")).toBe(true);
    expect(diff).toMatch(/\[truncated: showing the first 200000 of \d+ characters\]$/);
    await expect(client(ISSUE).getDiff(ISSUE)).rejects.toThrow("only merge requests have a diff");
  });

  it("readFile reads at the merge request's head sha, refuses binaries and truncates", async () => {
    fake.interceptors.push((r) => {
      if (r.path === "/projects/5/repository/files/src%2Fmain.ts/raw") return [200, `ref=${r.query.get("ref")}`, { "content-type": "text/plain; charset=utf-8" }];
      if (r.path === "/projects/5/repository/files/logo.png/raw") return [200, Buffer.from([0x89, 0x50, 0x00, 0x01]), { "content-type": "image/png" }];
      if (r.path === "/projects/5/repository/files/big.txt/raw") return [200, "y".repeat(READ_LIMITS.fileChars + 10), { "content-type": "text/plain" }];
      return undefined;
    });
    const c = client(MR);
    expect(await c.readFile(MR, "src/main.ts")).toBe(`ref=${HEAD_SHA}`);
    expect(await c.readFile(MR, "/src/main.ts", "main")).toBe("ref=main");
    expect(await c.readFile(MR, "logo.png")).toBe("[binary file: 4 bytes, not shown]");
    expect(await c.readFile(MR, "big.txt")).toMatch(/^y+\n\n\[truncated: showing the first 100000 of 100010 characters\]$/);
    expect(await client(ISSUE).readFile(ISSUE, "src/main.ts")).toBe("ref=HEAD");
    // One merge request lookup serves every read of the session.
    expect(fake.requests.filter((r) => r.path === "/projects/5/merge_requests/1")).toHaveLength(1);
  });

  it("listDirectory maps trees and blobs, leaves submodules out", async () => {
    fake.interceptors.push((r) =>
      r.path === "/projects/5/repository/tree"
        ? [200, [
            { name: "lib", path: `${r.query.get("path")}/lib`, type: "tree" },
            { name: "index.ts", path: `${r.query.get("path")}/index.ts`, type: "blob" },
            { name: "vendor", path: `${r.query.get("path")}/vendor`, type: "commit" },
          ]]
        : undefined,
    );
    expect(await client(MR).listDirectory(MR, "/src/")).toEqual([
      { name: "lib", path: "src/lib", type: "dir" },
      { name: "index.ts", path: "src/index.ts", type: "file" },
    ]);
    const tree = fake.requests.find((r) => r.path === "/projects/5/repository/tree")!;
    expect(tree.query.get("ref")).toBe(HEAD_SHA);
  });
});
