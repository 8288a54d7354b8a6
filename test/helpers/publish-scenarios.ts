import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { existsSync } from "node:fs";
import path from "node:path";
import nock from "nock";
import { branchName } from "../../src/agent/publish/message.js";
import { publishes, publishSteps } from "../../src/metrics/flows.js";
import { startTestBot, UNLIMITED_WRITES, waitFor, type TestBot } from "./bot.js";
import { enableChanges, NEW_INDEX, workspaceRoot } from "./change-session.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import type { FakeReply, ModelRequest } from "./fake-openai.js";
import { FakeOpenAI } from "./fake-openai.js";
import type { PublishForge, ThreadId } from "./publish-forges.js";

/**
 * Publishing, end to end on one forge (run for both from github/publish.test.ts and
 * gitlab/publish.test.ts): a change session's patch waits for `@forgebot apply`, then becomes a
 * branch, one commit and a draft pull/merge request through the fake forge's documented REST
 * endpoints; and every way it can go wrong gets a clear reply with at most one branch, one
 * commit per publish and one change request on the forge.
 */

export const REQUEST = "make sub subtract and export it from src/index.js";
const MATH_AFTER = "export function sub(a, b) {\n  return a - b;\n}\n";

/** The agent: writes src/index.js, edits src/math.js, answers. `extra` steps run when the request carries their key. */
export function publishScript(extra: Record<string, FakeReply[]> = {}): (r: ModelRequest) => FakeReply {
  const base: FakeReply[] = [
    { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
    { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
    { kind: "text", text: "Fixed `sub` to subtract and exported it from `src/index.js`." },
  ];
  return (r) => {
    const key = Object.keys(extra).find((k) => r.raw.includes(k));
    if (!key) return base[Math.min(r.toolResults, base.length - 1)]!;
    // A revision after run 1's two tool results, or a follow-up session starting from none.
    const steps = extra[key]!;
    const start = r.raw.includes("FOLLOW-UP") ? 0 : 2;
    return steps[Math.min(r.toolResults - start, steps.length - 1)]!;
  };
}

export function publishScenarios(forge: PublishForge): void {
  const root = workspaceRoot();
  let database: TestDatabase;
  let bot: TestBot;
  let model: FakeOpenAI;
  let issue = 400;
  const cr = forge.changeRequestName;
  const nextIssue = (): ThreadId => ({ kind: "issue", number: ++issue });

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
        // Far more publishes a minute than the defaults allow: this file is not about the budget.
        ...UNLIMITED_WRITES,
        ...forge.env(),
      },
    });
    await enableChanges(database.db, forge.repositoryActor);
  });

  afterAll(async () => {
    await bot.stop();
    await model.stop();
    await database.drop();
    root.remove();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  beforeEach(() => {
    nock.cleanAll();
    forge.reset();
    model.requests.length = 0;
    model.script = publishScript();
  });

  // Every request went to an endpoint the forge documents, with the fields it documents.
  afterEach(() => {
    expect(forge.unrouted()).toEqual([]);
    expect(forge.refusedForShape()).toEqual([]);
  });

  async function reply(thread: ThreadId, n: number, timeoutMs = 30_000): Promise<string> {
    return waitFor(`reply ${n} in ${forge.reference(thread)}`, () => forge.replies(thread)[n - 1], timeoutMs);
  }

  async function sessionOf(thread: ThreadId, which: "first" | "last" = "last") {
    const { rows } = await database.db.query<{ id: string; status: string; run_seq: number; flow: string; parent_session_id: string | null }>(
      `SELECT id, status, run_seq, flow, parent_session_id FROM sessions WHERE forge = $1 AND thread_kind = $2 AND thread_number = $3 ORDER BY id ${which === "first" ? "ASC" : "DESC"} LIMIT 1`,
      [forge.name, thread.kind === "cr" ? "change_request" : "issue", thread.number],
    );
    return rows[0] ? { id: Number(rows[0].id), status: rows[0].status, run: rows[0].run_seq, flow: rows[0].flow, parent: rows[0].parent_session_id === null ? null : Number(rows[0].parent_session_id) } : null;
  }

  async function statusIs(thread: ThreadId, status: string) {
    return waitFor(`a session ${status} in ${forge.reference(thread)}`, async () => {
      const s = await sessionOf(thread);
      return s?.status === status ? s : null;
    });
  }

  /** Asks for the change in `thread` and waits for the reply asking for approval. */
  async function waitingChange(thread: ThreadId): Promise<{ approval: string; sessionId: number }> {
    await forge.mention(bot, thread, `@forgebot change ${REQUEST}`);
    const approval = await reply(thread, 1);
    const s = await statusIs(thread, "plan_approval_required");
    return { approval, sessionId: s.id };
  }

  async function count(counter: typeof publishes | typeof publishSteps, labels: Record<string, string>): Promise<number> {
    const { values } = await counter.get();
    return values.filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want)).reduce((n, v) => n + v.value, 0);
  }

  /** The commits a branch has beyond `base`. */
  const commitsOn = (branch: string, base: string) => forge.repo.commitsBetween(base, forge.repo.branches.get(branch)!);

  describe(`publishing on ${forge.name}`, () => {
    it(`issue → approval in the thread → a draft ${cr} with the trailers`, async () => {
      const thread = nextIssue();
      const main = forge.repo.branches.get("main")!;
      const before = await count(publishes, { forge: forge.name, outcome: "published" });
      const { approval, sessionId } = await waitingChange(thread);

      expect(approval).toContain(`Reply \`@forgebot apply\` to open a draft ${cr} with this change.`);
      expect(approval).toContain("2 files changed, 2 insertions(+), 1 deletion(-)");
      expect(approval).toMatch(/<details><summary>Diff/);
      expect(forge.repoWrites()).toEqual([]);
      // The workspace is kept while the change waits.
      expect(existsSync(path.join(root.dir, String(sessionId)))).toBe(true);

      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 2);
      const opened = forge.openedChangeRequests();
      expect(opened).toHaveLength(1);
      const [change] = opened;
      const ref = forge.name === "github" ? `#${change!.number}` : `!${change!.number}`;
      expect(published).toContain(`Opened draft ${cr} ${ref}: `);
      expect(published).toMatch(/\[View session\]\(http:\/\/forgebot\.test\/sessions\/\d+\?sig=[\w-]+\)/);

      const branch = branchName(sessionId, REQUEST);
      expect(branch).toBe(`forgebot/${sessionId}-make-sub-subtract-and-export-it-from-src`);
      expect(forge.repo.forgebotBranches()).toEqual([branch]);
      expect(published).toContain(`Branch \`${branch}\`, commit [\``);
      const [commit, ...more] = commitsOn(branch, main);
      expect(more).toEqual([]);
      expect(commit!.parents).toEqual([main]);
      expect(forge.repo.text(commit!.sha, "src/index.js")).toBe(NEW_INDEX);
      expect(forge.repo.text(commit!.sha, "src/math.js")).toBe(MATH_AFTER);
      expect(forge.repo.text(commit!.sha, "README.md")).toBe("# Calculator\n");
      const lines = commit!.message.split("\n");
      expect(lines[0]).toBe("Make sub subtract and export it from src/index.js");
      expect(lines[1]).toBe("");
      const coAuthor = forge.name === "github" ? "Co-authored-by: Codertocat <21031067+Codertocat@users.noreply.github.com>" : "Co-authored-by: root <1-root@users.noreply.gitlab.example.com>";
      expect(lines.at(-2)).toBe(coAuthor);
      expect(lines.at(-1)).toMatch(new RegExp(`^Forgebot-Session: http://forgebot\\.test/sessions/${sessionId}\\?sig=[\\w-]+$`));

      expect(change).toMatchObject({ head: branch, base: "main", draft: true });
      expect(change!.title).toMatch(/Make sub subtract and export it from src\/index\.js$/);
      expect(change!.body).toContain(`Requested by @${forge.requester.login} in`);
      expect(change!.body).toMatch(new RegExp(`\\[session ${sessionId}\\]\\(http://forgebot\\.test/sessions/${sessionId}\\?sig=`));
      if (forge.name === "gitlab") expect(change!.removeSourceBranch).toBe(true);

      const s = await statusIs(thread, "finished");
      expect(s.run).toBe(2);
      expect(existsSync(path.join(root.dir, String(sessionId)))).toBe(false);
      // Exactly two answers, and both started notes gone.
      expect(forge.replies(thread)).toHaveLength(2);
      expect(forge.botNotes(thread).filter((b) => b.includes("forgebot:started"))).toEqual([]);
      expect(await count(publishes, { forge: forge.name, outcome: "published" })).toBe(before + 1);
      // Never forced; only documented writes.
      for (const w of forge.repoWrites()) expect(w.body.force).not.toBe(true);

      // The page shows where it went.
      const link = /\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(published)![1]!;
      const page = await (await fetch(`${bot.baseUrl}${link}`)).text();
      expect(page).toContain(`Opened draft ${cr} ${ref}`);
      expect(page).toContain(`<code>${branch}</code>`);
      expect(page).toContain(`<code>${commit!.sha.slice(0, 12)}</code>`);
      expect(page).toContain(`Published as ${ref}`);
    });

    it(`${cr} thread → a stacked ${cr} on its head branch`, async () => {
      forge.repo.branches.set("fix-sub", forge.repo.branches.get("main")!);
      const thread = forge.addChangeRequest({ headBranch: "fix-sub" });
      const { approval, sessionId } = await waitingChange(thread);
      expect(approval).toContain(`stacked on ${forge.reference(thread)} (its base is \`fix-sub\`), or \`@forgebot apply here\` to commit it onto \`fix-sub\` itself.`);
      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 2);
      const [change, ...others] = forge.openedChangeRequests();
      expect(others).toEqual([]);
      expect(change).toMatchObject({ head: branchName(sessionId, REQUEST), base: "fix-sub", draft: true });
      expect(published).toContain(`It is stacked on ${forge.reference(thread)}: its base is \`fix-sub\``);
      expect(change!.body).toContain(`Stacked on ${forge.reference(thread)}`);
      expect(commitsOn(branchName(sessionId, REQUEST), forge.repo.branches.get("fix-sub")!)).toHaveLength(1);
    });

    it("`apply here` commits onto the change request's own branch", async () => {
      const main = forge.repo.branches.get("main")!;
      forge.repo.branches.set("fix-sub", main);
      const thread = forge.addChangeRequest({ headBranch: "fix-sub" });
      await waitingChange(thread);
      await forge.mention(bot, thread, "@forgebot apply here");
      const published = await reply(thread, 2);
      const head = forge.repo.branches.get("fix-sub")!;
      expect(head).not.toBe(main);
      expect(forge.repo.get(head)!.parents).toEqual([main]);
      expect(forge.repo.text(head, "src/math.js")).toBe(MATH_AFTER);
      expect(published).toContain(`Committed [\`${head.slice(0, 7)}\`]`);
      expect(published).toContain(`onto \`fix-sub\` (${forge.reference(thread)})`);
      expect(forge.openedChangeRequests()).toEqual([]);
      expect(forge.repo.forgebotBranches()).toEqual([]);
    });

    it("`apply here` after the head moved is refused with the reason; `apply` then opens the stacked one on the new head", async () => {
      forge.repo.branches.set("fix-sub", forge.repo.branches.get("main")!);
      const thread = forge.addChangeRequest({ headBranch: "fix-sub" });
      const { sessionId } = await waitingChange(thread);
      const moved = forge.repo.push("fix-sub", { "README.md": "# Calculator\n\nNow with docs.\n" });
      await forge.mention(bot, thread, "@forgebot apply here");
      const refused = await reply(thread, 2);
      expect(refused).toContain("Nothing was published: `fix-sub` moved since the snapshot (");
      expect(refused).toContain(`Reply \`@forgebot apply\` to open a draft ${cr} stacked on ${forge.reference(thread)} (its base is \`fix-sub\`) instead.`);
      expect(forge.repo.branches.get("fix-sub")).toBe(moved);
      expect(forge.repoWrites()).toEqual([]);
      await statusIs(thread, "plan_approval_required");

      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 3);
      const branch = branchName(sessionId, REQUEST);
      const [commit, ...more] = commitsOn(branch, moved);
      expect(more).toEqual([]);
      expect(commit!.parents).toEqual([moved]);
      expect(forge.repo.text(commit!.sha, "README.md")).toBe("# Calculator\n\nNow with docs.\n");
      expect(forge.repo.text(commit!.sha, "src/math.js")).toBe(MATH_AFTER);
      expect(published).toContain("`fix-sub` moved since the snapshot (");
      expect(published).toContain("the change was applied three-way on its new head");
    });

    it("the base moved without a conflict: the change is applied three-way on the new head", async () => {
      const thread = nextIssue();
      const { sessionId } = await waitingChange(thread);
      const moved = forge.repo.push("main", { "README.md": "# Calculator v2\n", "docs/usage.md": "sub(3, 1) is 2\n" });
      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 2);
      const [commit, ...more] = commitsOn(branchName(sessionId, REQUEST), moved);
      expect(more).toEqual([]);
      expect(commit!.parents).toEqual([moved]);
      expect(forge.repo.text(commit!.sha, "README.md")).toBe("# Calculator v2\n");
      expect(forge.repo.text(commit!.sha, "docs/usage.md")).toBe("sub(3, 1) is 2\n");
      expect(forge.repo.text(commit!.sha, "src/index.js")).toBe(NEW_INDEX);
      expect(forge.repo.text(commit!.sha, "src/math.js")).toBe(MATH_AFTER);
      expect(published).toContain(`\`main\` moved since the snapshot (`);
    });

    it("the base moved with a conflict: the conflicting files are named and nothing is published", async () => {
      const thread = nextIssue();
      const before = await count(publishes, { forge: forge.name, outcome: "conflict" });
      await waitingChange(thread);
      forge.repo.push("main", { "src/math.js": "export function sub(x, y) {\n  return x + y; // callers rely on this\n}\n" });
      await forge.mention(bot, thread, "@forgebot apply");
      const conflict = await reply(thread, 2);
      expect(conflict).toContain("Nothing was published: `main` moved since the snapshot (");
      expect(conflict).toContain("Conflicting files: `src/math.js`.");
      expect(conflict).toContain("`@forgebot retry` makes the change again on the current `main`.");
      expect(forge.repo.forgebotBranches()).toEqual([]);
      expect(forge.openedChangeRequests()).toEqual([]);
      expect(forge.repoWrites()).toEqual([]);
      await statusIs(thread, "finished");
      expect(await count(publishes, { forge: forge.name, outcome: "conflict" })).toBe(before + 1);
    });

    it(`a fork's ${cr}: stacked against the base repository, and said so`, async () => {
      const main = forge.repo.branches.get("main")!;
      const files = new Map(forge.repo.get(main)!.files);
      files.set("CONTRIBUTING.md", { content: Buffer.from("Be kind.\n"), mode: "100644" });
      const forkHead = forge.repo.commit([main], files, "A fork's commit");
      const thread = forge.addChangeRequest({ headBranch: "patch-1", fork: { headSha: forkHead } });
      const { approval, sessionId } = await waitingChange(thread);
      expect(approval).toContain(`${forge.reference(thread)} comes from a fork, which I cannot write to, so it would go against \`main\` of this repository`);

      await forge.mention(bot, thread, "@forgebot apply here");
      const refused = await reply(thread, 2);
      expect(refused).toContain(`Nothing was published: ${forge.reference(thread)} comes from a fork, which I cannot write to.`);
      expect(refused).toContain(`to open a draft ${cr} against \`main\` of this repository instead`);

      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 3);
      const branch = branchName(sessionId, REQUEST);
      const [change, ...others] = forge.openedChangeRequests();
      expect(others).toEqual([]);
      expect(change).toMatchObject({ head: branch, base: "main" });
      const head = forge.repo.get(forge.repo.branches.get(branch)!)!;
      expect(head.parents).toEqual([forkHead]);
      expect(forge.repo.text(head.sha, "CONTRIBUTING.md")).toBe("Be kind.\n");
      expect(published).toContain(`${forge.reference(thread)} comes from a fork, which I cannot write to, so this ${cr} is against \`main\``);
      // The fork's branch itself was never written.
      expect(forge.repoWrites().some((w) => JSON.stringify(w).includes("patch-1"))).toBe(false);
    });

    it("a free-text mention while the change waits: the agent revises it and asks again", async () => {
      const thread = nextIssue();
      model.script = publishScript({
        "ALSO-REVISE": [
          { kind: "tools", calls: [{ name: "write_file", input: { path: "CHANGELOG.md", content: "- sub subtracts\n" } }] },
          { kind: "text", text: "Also added a changelog entry." },
        ],
      });
      await waitingChange(thread);
      await forge.mention(bot, thread, "@forgebot ALSO-REVISE: add a changelog entry too");
      const again = await reply(thread, 2);
      expect(again).toContain("Also added a changelog entry.");
      expect(again).toContain("3 files changed");
      expect(again).toContain(`Reply \`@forgebot apply\` to open a draft ${cr}`);
      const s = await statusIs(thread, "plan_approval_required");
      expect(s.run).toBe(2);
      await forge.mention(bot, thread, "@forgebot apply");
      await reply(thread, 3);
      const branch = branchName(s.id, REQUEST);
      const head = forge.repo.branches.get(branch)!;
      expect(forge.repo.text(head, "CHANGELOG.md")).toBe("- sub subtracts\n");
      expect(forge.repo.text(head, "src/math.js")).toBe(MATH_AFTER);
    });

    it(`a mention in the ${cr} forgebot opened continues the conversation and pushes to its own branch after approval`, async () => {
      const thread = nextIssue();
      await waitingChange(thread);
      await forge.mention(bot, thread, "@forgebot apply");
      await reply(thread, 2);
      const [opened] = forge.openedChangeRequests();
      const own: ThreadId = { kind: "cr", number: opened!.number };
      const before = forge.repo.branches.get(opened!.head)!;

      model.script = publishScript({
        "FOLLOW-UP": [
          { kind: "tools", calls: [{ name: "write_file", input: { path: "src/add.js", content: "export const add = (a, b) => a + b;\n" } }] },
          { kind: "text", text: "Added `add` next to `sub`." },
        ],
      });
      model.requests.length = 0;
      await forge.mention(bot, own, "@forgebot FOLLOW-UP: add an `add` function too");
      const approval = await reply(own, 1);
      expect(approval).toContain(`Reply \`@forgebot apply\` to push this change to \`${opened!.head}\` (${forge.name === "github" ? "#" : "!"}${opened!.number}).`);
      const followUp = await statusIs(own, "plan_approval_required");
      const origin = await sessionOf(thread);
      expect(followUp).toMatchObject({ flow: "change", parent: origin!.id });
      // The conversation that asked for the change is the follow-up's memory.
      expect(model.requests[0]!.raw).toContain("make sub subtract");
      expect(forge.repo.branches.get(opened!.head)).toBe(before);

      await forge.mention(bot, own, "@forgebot apply");
      const pushed = await reply(own, 2);
      const head = forge.repo.branches.get(opened!.head)!;
      expect(forge.repo.get(head)!.parents).toEqual([before]);
      expect(forge.repo.text(head, "src/add.js")).toBe("export const add = (a, b) => a + b;\n");
      expect(forge.repo.text(head, "src/math.js")).toBe(MATH_AFTER);
      expect(pushed).toContain(`to \`${opened!.head}\` (${forge.name === "github" ? "#" : "!"}${opened!.number}).`);
      expect(forge.openedChangeRequests()).toHaveLength(1);
      expect(forge.repo.forgebotBranches()).toEqual([opened!.head]);
    });
  });

  if (forge.name === "github") {
    describe("a repository whose plan has no draft pull requests", () => {
      it("gets a normal pull request titled \"[Draft] …\", and the reply says why", async () => {
        (forge as unknown as { fake: { draftPullRequests: boolean } }).fake.draftPullRequests = false;
        const thread = nextIssue();
        await waitingChange(thread);
        await forge.mention(bot, thread, "@forgebot apply");
        const published = await reply(thread, 2);
        const [change, ...others] = forge.openedChangeRequests();
        expect(others).toEqual([]);
        expect(change).toMatchObject({ title: "[Draft] Make sub subtract and export it from src/index.js", draft: false });
        expect(published).toContain(`Opened pull request #${change!.number}: `);
        expect(published).toContain("This repository does not offer draft pull requests, so its title marks it as a draft instead.");
      });
    });
  }

  describe(`bad input on ${forge.name}`, () => {
    it("`apply` with no change waiting: one note saying so, nothing created", async () => {
      const thread = nextIssue();
      await forge.mention(bot, thread, "@forgebot apply");
      const notice = await waitFor("notice", () => forge.notices(thread)[0]);
      expect(notice.split("\n")[0]).toBe("There is no change waiting for approval in this thread, so there is nothing to apply.");
      expect(await sessionOf(thread)).toBeNull();
      expect(model.requests).toHaveLength(0);
    });

    it("`apply` while the session is still making its change: one note saying so, and the change then waits as usual", async () => {
      const thread = nextIssue();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const script = publishScript();
      model.script = async (r) => {
        if (r.toolResults === 0) await gate;
        return script(r);
      };
      await forge.mention(bot, thread, `@forgebot change ${REQUEST}`);
      const working = await waitFor("the session to be running", async () => ((await sessionOf(thread))?.status === "running" ? sessionOf(thread) : null));
      await waitFor("the model to be asked", () => model.requests.length > 0);
      await forge.mention(bot, thread, "@forgebot apply");
      const notice = await waitFor("notice", () => forge.notices(thread)[0]);
      expect(notice.split("\n")[0]).toBe(`Session ${working.id} is still working on its change; reply \`@forgebot apply\` once it shows the diff.`);
      release();
      expect(await reply(thread, 1)).toContain("Reply `@forgebot apply`");
      await statusIs(thread, "plan_approval_required");
      expect(forge.repoWrites()).toEqual([]);
    });

    it("`apply` from a reader: one note saying why, and the change keeps waiting", async () => {
      const thread = nextIssue();
      await waitingChange(thread);
      const reader = { id: 777, login: "reader" };
      forge.makeReader(reader);
      await forge.mention(bot, thread, "@forgebot apply", reader);
      const notice = await waitFor("notice", () => forge.notices(thread)[0]);
      expect(notice).toContain("@reader only");
      expect(notice).toContain("can apply changes with @forgebot here, so nothing was published.");
      await forge.mention(bot, thread, "@forgebot apply", reader);
      await new Promise((r) => setTimeout(r, 1500));
      expect(forge.notices(thread)).toHaveLength(1);
      expect((await sessionOf(thread))!.status).toBe("plan_approval_required");
      expect(forge.repoWrites()).toEqual([]);
    });

    it("two `apply`s at once: one publish, and the other is told", async () => {
      const thread = nextIssue();
      const { sessionId } = await waitingChange(thread);
      await Promise.all([forge.mention(bot, thread, "@forgebot apply"), forge.mention(bot, thread, "@forgebot apply")]);
      await reply(thread, 2);
      const notice = await waitFor("notice", () => forge.notices(thread)[0]);
      expect(notice).toMatch(new RegExp(`Session ${sessionId} (is already publishing its change|has finished)`));
      await statusIs(thread, "finished");
      await new Promise((r) => setTimeout(r, 500));
      expect(forge.openedChangeRequests()).toHaveLength(1);
      expect(forge.repo.forgebotBranches()).toEqual([branchName(sessionId, REQUEST)]);
      expect(commitsOn(branchName(sessionId, REQUEST), forge.repo.branches.get("main")!)).toHaveLength(1);
      expect(forge.replies(thread)).toHaveLength(2);
    });

    it("`apply` after the stacked-on branch was deleted: refused with the reason", async () => {
      forge.repo.branches.set("fix-sub", forge.repo.branches.get("main")!);
      const thread = forge.addChangeRequest({ headBranch: "fix-sub" });
      await waitingChange(thread);
      forge.repo.branches.delete("fix-sub");
      await forge.mention(bot, thread, "@forgebot apply");
      const refused = await reply(thread, 2);
      expect(refused).toContain(`Nothing was published: ${forge.reference(thread)}'s branch \`fix-sub\` no longer exists (was it deleted?).`);
      expect(forge.repoWrites()).toEqual([]);
      await statusIs(thread, "plan_approval_required");
    });

    it("a branch of that name that forgebot did not make: refused, and never overwritten", async () => {
      const thread = nextIssue();
      const { sessionId } = await waitingChange(thread);
      const branch = branchName(sessionId, REQUEST);
      const theirs = forge.repo.push("main", { "NOTES.md": "someone else's\n" });
      forge.repo.branches.set(branch, theirs);
      forge.repo.branches.set("main", forge.repo.get(theirs)!.parents[0]!);
      const before = await count(publishes, { forge: forge.name, outcome: "refused" });
      await forge.mention(bot, thread, "@forgebot apply");
      const refused = await reply(thread, 2);
      expect(refused).toContain(`Nothing was published: a branch named \`${branch}\` already exists and holds no commit of this session.`);
      expect(forge.repo.branches.get(branch)).toBe(theirs);
      expect(forge.openedChangeRequests()).toEqual([]);
      expect(await count(publishes, { forge: forge.name, outcome: "refused" })).toBe(before + 1);
    });

    it("the forge times out after creating the commit: the retry finds it; one branch, one commit, one change request", async () => {
      const thread = nextIssue();
      const main = forge.repo.branches.get("main")!;
      const { sessionId } = await waitingChange(thread);
      const path = forge.name === "github" ? /\/git\/commits$/ : /\/repository\/commits$/;
      forge.intercept((r) => r.method === "POST" && path.test(r.path), { status: 504, body: { message: "504 Gateway Timeout" }, apply: true });
      await forge.mention(bot, thread, "@forgebot apply");
      const published = await reply(thread, 2);
      expect(published).toContain(`Opened draft ${cr}`);
      const branch = branchName(sessionId, REQUEST);
      expect(forge.repo.forgebotBranches()).toEqual([branch]);
      expect(commitsOn(branch, main)).toHaveLength(1);
      expect(forge.openedChangeRequests()).toHaveLength(1);
      if (forge.name === "github") {
        // A commit object nothing points to is inert: the retry made another, and only that one is on the branch.
        expect(forge.repoWrites().filter((w) => path.test(w.path))).toHaveLength(2);
      } else {
        // GitLab made the branch with the commit: the retry looked first, found both, and wrote nothing.
        expect(forge.repoWrites().filter((w) => path.test(w.path))).toHaveLength(1);
        expect(await count(publishSteps, { forge: "gitlab", step: "commit", outcome: "found_existing" })).toBeGreaterThan(0);
      }
    });

    it("a duplicate refused after the first try was applied (\"Reference already exists\"): this session's own is adopted, counted as found", async () => {
      const thread = nextIssue();
      const main = forge.repo.branches.get("main")!;
      const { sessionId } = await waitingChange(thread);
      const branch = branchName(sessionId, REQUEST);
      const [path, status, message, step] =
        forge.name === "github"
          ? [/\/git\/refs$/, 422, "Reference already exists", "branch"]
          : [/\/repository\/commits$/, 400, `400 Bad request - A branch called '${branch}' already exists. Switch to that branch in order to make changes`, "commit"];
      const before = await count(publishSteps, { forge: forge.name, step, outcome: "found_existing" });
      forge.intercept((r) => r.method === "POST" && path.test(r.path), { status, body: { message }, apply: true });
      await forge.mention(bot, thread, "@forgebot apply");
      expect(await reply(thread, 2)).toContain(`Opened draft ${cr}`);
      expect(forge.repo.forgebotBranches()).toEqual([branch]);
      expect(commitsOn(branch, main)).toHaveLength(1);
      expect(forge.openedChangeRequests()).toHaveLength(1);
      expect(await count(publishSteps, { forge: forge.name, step, outcome: "found_existing" })).toBe(before + 1);
    });

    it("the forge refuses the bot's own access (403): publishing failed, the change waits, and `apply` again publishes it once", async () => {
      const thread = nextIssue();
      const main = forge.repo.branches.get("main")!;
      const { sessionId } = await waitingChange(thread);
      const before = await count(publishes, { forge: forge.name, outcome: "failed" });
      const path = forge.name === "github" ? /\/git\/trees$/ : /\/repository\/commits$/;
      forge.intercept((r) => r.method === "POST" && path.test(r.path), { status: 403, body: { message: forge.name === "github" ? "Resource not accessible by integration" : "403 Forbidden" } });
      await forge.mention(bot, thread, "@forgebot apply");
      const failed = await reply(thread, 2);
      expect(failed).toMatch(/^Publishing failed: Git(Hub|Lab) create (tree|commit) failed \(403\)\./);
      expect(failed).toContain("reply `@forgebot apply` to try again");
      await statusIs(thread, "plan_approval_required");
      expect(forge.repo.forgebotBranches()).toEqual([]);
      expect(await count(publishes, { forge: forge.name, outcome: "failed" })).toBe(before + 1);

      await forge.mention(bot, thread, "@forgebot apply");
      expect(await reply(thread, 3)).toContain(`Opened draft ${cr}`);
      expect(commitsOn(branchName(sessionId, REQUEST), main)).toHaveLength(1);
      expect(forge.openedChangeRequests()).toHaveLength(1);
    });

    it("a protected branch: `apply here` is refused before any write; a rule refusing forgebot's branch is said as the forge said it", async () => {
      forge.repo.branches.set("fix-sub", forge.repo.branches.get("main")!);
      forge.repo.protectedBranches.add("fix-sub");
      const thread = forge.addChangeRequest({ headBranch: "fix-sub" });
      await waitingChange(thread);
      await forge.mention(bot, thread, "@forgebot apply here");
      expect(await reply(thread, 2)).toContain("Nothing was published: `fix-sub` is a protected branch, which I never write.");
      expect(forge.repoWrites()).toEqual([]);

      forge.repo.refusedPrefixes.push("forgebot/");
      await forge.mention(bot, thread, "@forgebot apply");
      const refused = await reply(thread, 3);
      expect(refused).toMatch(forge.name === "github" ? /Nothing was published: GitHub refused to create `forgebot\/[^`]+` \(Repository rule violations found/ : /Nothing was published: GitLab refused the commit on `forgebot\/[^`]+` \(Branch name does not follow the pattern set by a push rule\)/);
      expect(forge.repo.forgebotBranches()).toEqual([]);
      expect(forge.openedChangeRequests()).toEqual([]);
      await statusIs(thread, "plan_approval_required");
    });

    it("a patch touching .github/workflows is refused at publish time, whatever made it", async () => {
      const thread = nextIssue();
      const { sessionId } = await waitingChange(thread);
      // The stored patch says so (the agent's tools would never have let it in).
      await database.db.query(
        `UPDATE session_patches SET files = files || jsonb_build_array(jsonb_build_object('path', '.github/workflows/ci.yml', 'oldPath', null, 'status', 'added', 'oldMode', '000000', 'newMode', '100644', 'blob', 'abc', 'binary', false, 'insertions', 1, 'deletions', 0)) WHERE session_id = $1`,
        [sessionId],
      );
      await database.db.query("INSERT INTO session_patch_files (session_id, path, mode, content) VALUES ($1, '.github/workflows/ci.yml', '100644', $2)", [sessionId, Buffer.from("on: push\n")]);
      await forge.mention(bot, thread, "@forgebot apply");
      const refused = await reply(thread, 2);
      expect(refused).toContain("Nothing was published: the change touches `.github/workflows/ci.yml`, a protected path (`.github/workflows/**`): forgebot never publishes changes to CI definitions or its own settings.");
      expect(forge.repoWrites()).toEqual([]);
      expect(forge.repo.forgebotBranches()).toEqual([]);
    });

    it("with `changes.approval: never` on the default branch the change is published at once", async () => {
      const settings = "changes:\n  approval: never\n";
      if (forge.name === "github") (forge as unknown as { fake: { files: Map<string, string> } }).fake.files.set(".forgebot.yml", settings);
      else (forge as unknown as { fake: { files: Map<string, string> } }).fake.files.set(".forgebot.yml", settings);
      const thread = nextIssue();
      await forge.mention(bot, thread, `@forgebot change ${REQUEST}`);
      const only = await reply(thread, 1);
      expect(only).toContain("2 files changed");
      expect(only).toContain(`Opened draft ${cr}`);
      expect(only).not.toContain("Reply `@forgebot apply`");
      await statusIs(thread, "finished");
      expect(forge.openedChangeRequests()).toHaveLength(1);
    });
  });
}
