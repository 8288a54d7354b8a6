import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { existsSync } from "node:fs";
import path from "node:path";
import nock from "nock";
import { archiveBuffer } from "../../helpers/archives.js";
import { startTestBot, waitFor, type TestBot } from "../../helpers/bot.js";
import { appliesToRepo, CHANGE_REPO, CHANGE_SHA, changeScript, enableChanges, NEW_INDEX, workspaceRoot } from "../../helpers/change-session.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { FakeGitHub } from "../../helpers/fake-github.js";
import { FakeOpenAI } from "../../helpers/fake-openai.js";
import { signedHeaders } from "../../helpers/github-app.js";
import { nockGitHub } from "../../helpers/nock-github.js";
import { githubExample } from "../../helpers/payloads.js";

/**
 * Change sessions on GitHub, end to end: webhook → change flow → workspace from the tarball →
 * edits and a command in the sandbox → the patch in the reply, on the page and as a download.
 */
const REPO = "Codertocat/Hello-World";
const root = workspaceRoot();
let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let model: FakeOpenAI;
let comment = 8_100_000;
let delivery = 0;

async function mention(issue: number, body: string, repository?: { id: number; full_name: string }): Promise<void> {
  const payload = githubExample("issue_comment", "created", (p) => {
    if (repository) Object.assign(p.repository, repository);
    p.issue.number = issue;
    p.comment.id = ++comment;
    p.comment.body = body;
    p.comment.created_at = new Date().toISOString();
  });
  const text = JSON.stringify(payload);
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `change-${++delivery}`, text), body: text });
  expect(res.status).toBe(202);
}

const replyOn = (issue: number) => () => github.live({ kind: "issue_comment", number: issue }).find((c) => c.body.includes("forgebot:reply"));

beforeAll(async () => {
  database = await createTestDatabase();
  model = await new FakeOpenAI().start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
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
  github = new FakeGitHub();
  nockGitHub(github);
  github.archives.set(CHANGE_SHA, await archiveBuffer(CHANGE_REPO));
  github.branchHeads.set("main", CHANGE_SHA);
  model.requests.length = 0;
});

describe("change sessions on GitHub", () => {
  it("edits two files, runs the tests in the sandbox, and ends with the patch in the reply, on the page and as a download", async () => {
    await enableChanges(database.db, `github:repo:${REPO.toLowerCase()}`);
    model.script = changeScript();
    await mention(201, "@forgebot change make `sub` subtract and export it from src/index.js");
    const reply = await waitFor("reply", replyOn(201), 30_000);

    expect(reply.body).toContain("Fixed `sub` to subtract");
    expect(reply.body).toContain("- `sh test.sh` → exit 0");
    expect(reply.body).toContain(`**Changes** against \`main\` (\`${CHANGE_SHA.slice(0, 12)}\`): 2 files changed, 2 insertions(+), 1 deletion(-)`);
    expect(reply.body).toMatch(/<details><summary>Diff \(\d+ lines\)<\/summary>\n\n````?diff\ndiff --git a\/src\/index.js b\/src\/index.js/);
    expect(reply.body).toContain("+  return a - b;");
    expect(reply.body).toMatch(/run `git apply forgebot-session-\d+\.patch`/);
    expect(reply.body).toMatch(/curl -fsSL 'http:\/\/forgebot\.test\/sessions\/\d+\/patch\?sig=[\w-]+' \| git apply/);

    // The command's result reached the model: its exit code and output.
    expect(model.requests[3]!.raw).toContain("exit code 0");
    expect(model.requests[3]!.raw).toContain("all 2 checks passed");
    // The symlink to /etc/passwd in the archive was left out, and the agent was told.
    expect(model.requests[1]!.raw).toContain("the repository snapshot left out 1 archive entry that could not be extracted safely");

    const { rows: [session] } = await database.db.query("SELECT id, status, flow FROM sessions WHERE thread_number = 201");
    // The change waits for `@forgebot apply` (CHANGE_APPROVAL=always by default): see publish.test.ts.
    expect(session).toMatchObject({ status: "plan_approval_required", flow: "change" });
    expect(reply.body).toContain("Reply `@forgebot apply` to open a draft pull request with this change.");
    const { rows: commands } = await database.db.query("SELECT command, status, outcome, exit_code FROM session_commands WHERE session_id = $1", [session.id]);
    expect(commands).toEqual([{ command: "sh test.sh", status: "finished", outcome: "exit_zero", exit_code: 0 }]);
    const { rows: [patch] } = await database.db.query("SELECT base_ref, base_sha, files_changed, diff, files FROM session_patches WHERE session_id = $1", [session.id]);
    expect(patch).toMatchObject({ base_ref: "main", base_sha: CHANGE_SHA, files_changed: 2 });
    expect(patch.files.map((f: { path: string; status: string; newMode: string }) => [f.path, f.status, f.newMode])).toEqual([
      ["src/index.js", "added", "100644"],
      ["src/math.js", "modified", "100644"],
    ]);
    const { rows: contents } = await database.db.query("SELECT path, content FROM session_patch_files WHERE session_id = $1 ORDER BY path", [session.id]);
    expect(contents.map((c) => [c.path, c.content.toString()])).toEqual([
      ["src/index.js", NEW_INDEX],
      ["src/math.js", "export function sub(a, b) {\n  return a - b;\n}\n"],
    ]);
    expect(appliesToRepo(patch.diff)).toBe(true);
    // The workspace is kept while the change waits for approval.
    expect(existsSync(path.join(root.dir, String(session.id)))).toBe(true);

    // The page: the diff per file, coloured; the command with its exit code; the download.
    const link = /\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(reply.body)![1]!;
    const page = await (await fetch(`${bot.baseUrl}${link}`)).text();
    expect(page).toContain('<h2 id="change-heading">Change</h2>');
    expect(page).toContain("Change waiting for approval");
    expect(page).toContain("<code>src/index.js</code>");
    expect(page).toContain('<span class="d-add">+  return a - b;</span>');
    expect(page).toContain('<span class="d-del">-  return a + b;</span>');
    expect(page).toMatch(/<code>sh test.sh<\/code> <span class="command-status">exit 0<\/span>/);
    expect(page).toContain("<li><code>passwd</code>: link to an absolute path (/etc/passwd)</li>");
    const download = await fetch(`${bot.baseUrl}${link.replace("?", "/patch?")}`);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toBe(`attachment; filename="forgebot-session-${session.id}.patch"`);
    expect(await download.text()).toBe(patch.diff);
    expect((await fetch(`${bot.baseUrl}/sessions/${session.id}/patch?sig=wrong`)).status).toBe(404);
  });

  it("without code_changes for the user or the repository: one fixed line, no session, no model call", async () => {
    // Another repository: the first test turned the flag on for this file's main one.
    await mention(202, "@forgebot change delete everything", { id: 4242, full_name: "Codertocat/Elsewhere" });
    const notice = await waitFor("notice", () => github.live({ kind: "issue_comment", number: 202 }).find((c) => c.body.includes("forgebot:notice")));
    expect(notice.body.split("\n")[0]).toBe("Code changes are not enabled for you in this repository, so @forgebot did not start a change session.");
    expect(model.requests).toHaveLength(0);
    const { rows } = await database.db.query("SELECT count(*)::int AS n FROM sessions WHERE thread_number = 202");
    expect(rows[0].n).toBe(0);
  });

  it("a chat whose request needs edits switches to a change session; the switch is recorded", async () => {
    await enableChanges(database.db, "github:codertocat");
    model.script = changeScript({ first: { kind: "tools", calls: [{ name: "start_change", input: { request: "make sub subtract" } }] } });
    await mention(203, "@forgebot sub adds instead of subtracting, can you fix it?");
    const reply = await waitFor("reply", replyOn(203), 30_000);
    expect(reply.body).toContain("2 files changed");
    // The chat agent was offered the switch; the change agent then had the workspace tools.
    expect(JSON.stringify(model.requests[0]!.body.tools)).toContain("start_change");
    expect(JSON.stringify(model.requests[1]!.body.tools)).toContain("edit_file");
    expect(model.requests[1]!.raw).toContain("This session is now a change session");
    const { rows: [session] } = await database.db.query("SELECT id, command, flow FROM sessions WHERE thread_number = 203");
    expect(session).toMatchObject({ command: "chat", flow: "change" });
    const { rows: events } = await database.db.query("SELECT data FROM session_events WHERE session_id = $1 AND kind = 'flow_switched'", [session.id]);
    expect(events).toEqual([{ data: { from: "chat", to: "change", request: "make sub subtract", run: 1 } }]);
    const { rows: kinds } = await database.db.query("SELECT kind FROM checkpoints WHERE session_id = $1 ORDER BY seq", [session.id]);
    expect(kinds.map((k) => k.kind)).toEqual(["start", "step", "recovered", "step", "step", "step", "step"]);
  });
});
