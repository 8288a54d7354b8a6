import { describe, expect, it } from "@jest/globals";
import type { Session } from "../../../src/sessions/session.js";
import { createWorkspaceStore } from "../../../src/storage/workspace-store.js";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { GITHUB_SIGN_IN_ENV, signIn } from "../../helpers/sign-in.js";
import { seedSession, signedPath } from "./support.js";

/**
 * A change session's patch download follows the page's viewing rule: it holds the repository's
 * code, so a private repository's patch goes only to those who may read the repository (the
 * link alone once downloaded it).
 */

const h = useGitHubBot({ env: GITHUB_SIGN_IN_ENV });
const SECRET = "the private repository's code";

async function withPatch(session: Session): Promise<Session> {
  const diff = `diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+${SECRET}\n`;
  await createWorkspaceStore(h.database.db).savePatch({
    sessionId: session.id,
    run: 1,
    baseRef: "main",
    baseSha: "0".repeat(40),
    summary: { diff, stat: " a.txt | 1 +", bytes: diff.length, filesChanged: 1, insertions: 1, deletions: 0, files: [] },
    contents: [{ path: "a.txt", mode: "100644", content: Buffer.from(`${SECRET}\n`) }],
  });
  return session;
}

async function download(id: number, cookie?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${h.bot.baseUrl}${signedPath(id, "/patch")}`, { headers: cookie ? { cookie } : {} });
  return { status: res.status, text: await res.text() };
}

async function signInAs(login: string, role: string, id: number): Promise<string> {
  h.fake.permissions.set(login, role);
  h.fake.oauthUser = { id, login };
  return (await signIn(h.bot.baseUrl, "github")).cookie;
}

describe("the patch download", () => {
  it("of a private repository: 401 to the link alone, 403 to a user who may not read it, the patch to a reader", async () => {
    const session = await withPatch(await seedSession(h.bot.bot, { status: "finished", visibility: "private", delivered: true }));
    const anonymous = await download(session.id);
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).toContain(`Sign in to see session ${session.id}`);
    expect(anonymous.text).not.toContain(SECRET);

    const stranger = await download(session.id, await signInAs("eve", "none", 8001));
    expect(stranger.status).toBe(403);
    expect(stranger.text).not.toContain(SECRET);

    const reader = await download(session.id, await signInAs("rita", "read", 8002));
    expect(reader.status).toBe(200);
    expect(reader.text).toContain(`+${SECRET}`);
  });

  it("of a public repository: the link is enough, as for the page", async () => {
    const session = await withPatch(await seedSession(h.bot.bot, { status: "finished", visibility: "public", delivered: true }));
    const res = await download(session.id);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`+${SECRET}`);
  });

  it("where sign-in is not set up for the session's forge: the status may show, the patch may not (403)", async () => {
    const session = await h.bot.bot.deps.sessions.createSession({
      thread: { forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "group/project", kind: "change_request", number: 1, visibility: "private" },
      triggerKey: "private-patch-gitlab",
      triggerCommentId: "private-patch-gitlab",
      actor: { id: "1", login: "root" },
      command: "change",
      prompt: "change it",
      flow: "change",
      parentSessionId: null,
      origin: "mention",
      title: "A private merge request",
      threadUrl: undefined,
      triggerCreatedAt: new Date().toISOString(),
    });
    await withPatch(session.session);
    const res = await download(session.session.id);
    expect(res.status).toBe(403);
    expect(res.text).not.toContain(SECRET);
    // The page itself shows the status alone.
    expect((await fetch(`${h.bot.baseUrl}${signedPath(session.session.id)}`)).status).toBe(200);
  });
});
