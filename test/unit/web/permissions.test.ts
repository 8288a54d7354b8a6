import { describe, expect, it } from "@jest/globals";
import { githubProfile } from "../../../src/forges/github/profile.js";
import type { Actor, ForgeClient, RepoAccess, RepoVisibility } from "../../../src/sessions/forge-port.js";
import type { ForgeProvider } from "../../../src/sessions/ports.js";
import type { Session } from "../../../src/sessions/session.js";
import type { ForgeUser } from "../../../src/sessions/sign-in-port.js";
import { createPermissions, PermissionCheckError } from "../../../src/web/permissions.js";

/** A forge whose answers the test sets per login, counting every ask. */
function fakeForge() {
  const answers = new Map<string, RepoAccess | Error>();
  const asked: { login: string; visibility: RepoVisibility }[] = [];
  const client = {
    canUseBot: async () => false,
    postNote: async () => ({ id: "1", type: "issue_comment" as const }),
    findNoteByMarker: async () => null,
    deleteNote: async () => undefined,
    async accessOf(actor: Actor, visibility: RepoVisibility) {
      asked.push({ login: actor.login, visibility });
      const answer = answers.get(actor.login) ?? { read: false, write: false };
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } satisfies ForgeClient;
  const forges: ForgeProvider = {
    forgeFor: () => ({ name: "github", profile: githubProfile, clientFor: async () => client }),
    handleFor: () => "forgebot",
    requestIn: () => null,
    profileFor: () => githubProfile,
  };
  return { forges, answers, asked };
}

const session = (overrides: Partial<Session> = {}) =>
  ({ id: 1, forge: "github", host: "github.com", repoId: "42", repoPath: "o/r", visibility: "private", callbackContext: { thread: {} }, ...overrides }) as Session;
const user = (login: string, overrides: Partial<ForgeUser> = {}): ForgeUser => ({ forge: "github", host: "github.com", id: `id-${login}`, login, ...overrides });

describe("permission checks", () => {
  it("reuses an answer for one user and repository within the cache time, never for another user", async () => {
    let clock = 0;
    const { forges, answers, asked } = fakeForge();
    const permissions = createPermissions(forges, { cacheMs: 60_000, now: () => clock });
    answers.set("mona", { read: true, write: true });
    expect(await permissions.accessOf(user("mona"), session())).toEqual({ read: true, write: true });
    answers.set("mona", { read: false, write: false });
    expect(await permissions.accessOf(user("mona"), session())).toEqual({ read: true, write: true });
    // Another user of the same repository is asked for: the cache is per user.
    expect(await permissions.accessOf(user("eve"), session())).toEqual({ read: false, write: false });
    // Another repository is its own entry too.
    expect(await permissions.accessOf(user("mona"), session({ repoId: "43" }))).toEqual({ read: false, write: false });
    expect(asked.map((a) => a.login)).toEqual(["mona", "eve", "mona"]);

    clock = 60_001;
    expect(await permissions.accessOf(user("mona"), session())).toEqual({ read: false, write: false });
    // `fresh` (actions) always asks.
    answers.set("mona", { read: true, write: false });
    expect(await permissions.accessOf(user("mona"), session(), { fresh: true })).toEqual({ read: true, write: false });
    expect(asked).toHaveLength(5);
  });

  it("never caches longer than a minute, whatever it is told", async () => {
    let clock = 0;
    const { forges, answers, asked } = fakeForge();
    const permissions = createPermissions(forges, { cacheMs: 3_600_000, now: () => clock });
    answers.set("mona", { read: true, write: true });
    await permissions.accessOf(user("mona"), session());
    clock = 60_001;
    await permissions.accessOf(user("mona"), session());
    expect(asked).toHaveLength(2);
  });

  it("a user of another forge or host holds no permission, and the forge is not asked", async () => {
    const { forges, asked } = fakeForge();
    const permissions = createPermissions(forges, { cacheMs: 60_000 });
    expect(await permissions.accessOf(user("root", { forge: "gitlab", host: "gitlab.com" }), session())).toEqual({ read: false, write: false });
    expect(await permissions.accessOf(user("mona", { host: "ghe.example.com" }), session())).toEqual({ read: false, write: false });
    expect(asked).toEqual([]);
  });

  it("passes the session's visibility (private when none was recorded), and a forge failure is an error, not a cached refusal", async () => {
    const { forges, answers, asked } = fakeForge();
    const permissions = createPermissions(forges, { cacheMs: 60_000 });
    answers.set("mona", new Error("502 from GitHub"));
    await expect(permissions.accessOf(user("mona"), session({ visibility: null }))).rejects.toBeInstanceOf(PermissionCheckError);
    answers.set("mona", { read: true, write: false });
    expect(await permissions.accessOf(user("mona"), session({ visibility: null }))).toEqual({ read: true, write: false });
    expect(asked.map((a) => a.visibility)).toEqual(["private", "private"]);
  });

  it("a forge that never answers fails the check after its time limit", async () => {
    const { forges } = fakeForge();
    const hanging: ForgeProvider = { ...forges, forgeFor: () => ({ name: "github", profile: githubProfile, clientFor: () => new Promise<never>(() => undefined) }) };
    const permissions = createPermissions(hanging, { cacheMs: 60_000, timeoutMs: 50 });
    await expect(permissions.accessOf(user("mona"), session())).rejects.toThrow("no answer within 50 ms");
  });
});
