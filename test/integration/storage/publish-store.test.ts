import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createPublishStore } from "../../../src/storage/publish-store.js";
import { createSessionStore } from "../../../src/storage/session-store.js";
import { createWorkspaceStore } from "../../../src/storage/workspace-store.js";
import type { PatchPublication } from "../../../src/workspace/store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

/**
 * Recording a publish is safe to repeat: a worker killed after the publish was recorded but
 * before its session recorded the outcome publishes again from its recorded steps, and that
 * repeat must not add a second `published` event to the session's timeline.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const publication: Omit<PatchPublication, "publishedAt"> = {
  run: 2,
  mode: "new_branch",
  branch: "forgebot/1-make-sub-subtract",
  commit: { sha: "c".repeat(40), url: "https://github.test/o/r/commit/ccc" },
  changeRequest: { number: 900, url: "https://github.test/o/r/pull/900", title: "Make sub subtract", draft: true, reference: "#900", name: "pull request", opened: true },
  parentSha: "0".repeat(40),
  rebased: false,
};

describe("markPublished", () => {
  it("records the publish and its `published` event once, however often it is repeated", async () => {
    const sessions = createSessionStore(database.db);
    const { session } = await sessions.createSession({
      thread: { forge: "github", host: "github.com", repoId: "1", repoPath: "o/r", kind: "issue", number: 1 },
      triggerKey: "publish-once",
      triggerCommentId: "1",
      actor: { id: "1", login: "u" },
      command: "change",
      prompt: "make sub subtract",
      flow: "change",
      parentSessionId: null,
      origin: "mention",
      title: "t",
      threadUrl: undefined,
      triggerCreatedAt: new Date().toISOString(),
    });
    const diff = "diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+a\n";
    await createWorkspaceStore(database.db).savePatch({
      sessionId: session.id,
      run: 1,
      baseRef: "main",
      baseSha: "0".repeat(40),
      summary: { diff, stat: " a.txt | 1 +", bytes: diff.length, filesChanged: 1, insertions: 1, deletions: 0, files: [] },
      contents: [{ path: "a.txt", mode: "100644", content: Buffer.from("a\n") }],
    });
    const store = createPublishStore(database.db);
    const opened = { forge: "github" as const, host: "github.com", repoId: "1", number: 900 };

    await store.markPublished(session.id, publication, opened);
    await store.markPublished(session.id, publication, opened);
    // Two repeats at once (a stalled job run twice) add none either.
    await Promise.all([store.markPublished(session.id, publication, opened), store.markPublished(session.id, publication, opened)]);

    const { rows: events } = await database.db.query("SELECT data FROM session_events WHERE session_id = $1 AND kind = 'published'", [session.id]);
    expect(events).toEqual([{ data: { run: 2, mode: "new_branch", branch: publication.branch, commit: publication.commit.sha, changeRequest: "#900", url: publication.changeRequest.url } }]);
    const { rows: requests } = await database.db.query("SELECT session_id, branch FROM published_change_requests");
    expect(requests).toEqual([{ session_id: session.id, branch: publication.branch }]);
    expect((await store.findPublished(opened))?.sessionId).toBe(session.id);
  });
});
