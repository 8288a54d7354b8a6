import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import nock from "nock";
import { gitlabPayload } from "../../fixtures/gitlab/payloads.js";
import { archiveBuffer } from "../../helpers/archives.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { appliesToRepo, CHANGE_REPO, CHANGE_SHA, changeScript, enableChanges, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../../helpers/fake-gitlab.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../../helpers/nock-gitlab.js";

/**
 * Change sessions on GitLab, end to end: a merge request's head commit fetched as
 * `repository/archive.tar.gz`, edits and a command in the sandbox, the patch in the reply (in
 * the note's discussion), on the page and as a download.
 */
const SECRET = "gitlab-hook-secret";
const root = workspaceRoot();
let database: TestDatabase;
let bot: TestBot;
let gitlab: FakeGitLab;
let model: FakeOpenAI;
let delivery = 0;

async function mention(noteId: number, note: string): Promise<void> {
  const payload = gitlabPayload("note-merge-request.docs-example", (p) => {
    p.object_attributes.id = noteId;
    p.object_attributes.note = note;
    p.object_attributes.discussion_id = `d${noteId}`.padEnd(40, "0");
    // A public project: its session page shows the change to the link, no sign-in involved.
    p.project.visibility_level = 20;
  });
  gitlab.seedNote({ id: noteId, projectId: 5, noteable: "merge_requests", iid: 1, body: note, discussionId: payload.object_attributes.discussion_id });
  const res = await fetch(`${bot.baseUrl}/api/gitlab/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-gitlab-event": "Note Hook", "x-gitlab-token": SECRET, "idempotency-key": `change-${++delivery}` },
    body: JSON.stringify(payload),
  });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI().start();
  gitlab = new FakeGitLab();
  nockGitLab(gitlab);
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      GITLAB_URL: FAKE_GITLAB_URL,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: SECRET,
      GITLAB_NOTES_PER_MINUTE: "10000",
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      WORKSPACE_DIR: root.dir,
      SANDBOX_COMMAND_TIMEOUT_MS: "20000",
    },
  });
});

afterAll(async () => {
  await bot.stop();
  await model.stop();
  await database.drop();
  root.remove();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(async () => {
  nock.cleanAll();
  gitlab = new FakeGitLab();
  nockGitLab(gitlab);
  gitlab.archives.set(CHANGE_SHA, await archiveBuffer(CHANGE_REPO));
  gitlab.changeHeads.set(1, { sha: CHANGE_SHA, sourceBranch: "fix-sub" });
  model.requests.length = 0;
});

describe("change sessions on GitLab", () => {
  it("edits two files at the merge request's head, runs the tests in the sandbox, and replies with the patch", async () => {
    await enableChanges(database.db, "gitlab:project:gitlab-org/gitlab-test");
    model.script = changeScript();
    await mention(5001, "@forgebot change make `sub` subtract and export it from src/index.js");
    const reply = await waitFor("reply", () => gitlab.botNotes({ live: true }).find((n) => n.body.includes("forgebot:reply")), 30_000);

    expect(reply.discussionId).toBe("d5001".padEnd(40, "0"));
    expect(reply.body).toContain("- `sh test.sh` → exit 0");
    expect(reply.body).toContain(`**Changes** against \`fix-sub\` (\`${CHANGE_SHA.slice(0, 12)}\`): 2 files changed, 2 insertions(+), 1 deletion(-)`);
    expect(reply.body).toContain("<details><summary>Diff");
    expect(reply.body).toContain("git apply");
    expect(gitlab.requests.some((r) => r.path === "/projects/5/repository/archive.tar.gz" && r.query.get("sha") === CHANGE_SHA)).toBe(true);

    const { rows: [session] } = await database.db.query("SELECT id, status, flow, forge FROM sessions");
    // The change waits for `@forgebot apply`: stacked on !1's branch by default, or onto it with `apply here`.
    expect(session).toMatchObject({ status: "plan_approval_required", flow: "change", forge: "gitlab" });
    expect(reply.body).toContain("Reply `@forgebot apply` to open a draft merge request with this change, stacked on !1 (its base is `fix-sub`), or `@forgebot apply here` to commit it onto `fix-sub` itself.");
    const { rows: [patch] } = await database.db.query("SELECT base_ref, base_sha, diff FROM session_patches WHERE session_id = $1", [session.id]);
    expect(patch).toMatchObject({ base_ref: "fix-sub", base_sha: CHANGE_SHA });
    expect(appliesToRepo(patch.diff)).toBe(true);

    const link = /\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(reply.body)![1]!;
    const page = await (await fetch(`${bot.baseUrl}${link}`)).text();
    expect(page).toContain('<span class="d-add">+  return a - b;</span>');
    expect(page).toMatch(/<code>sh test.sh<\/code> <span class="command-status">exit 0<\/span>/);
    expect(await (await fetch(`${bot.baseUrl}${link.replace("?", "/patch?")}`)).text()).toBe(patch.diff);
  });
});
