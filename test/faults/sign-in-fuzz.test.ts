import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createHash, randomBytes } from "node:crypto";
import nock from "nock";
import type { ForgeName, ThreadRef } from "../../src/sessions/forge-port.js";
import type { Flow } from "../../src/sessions/flow.js";
import type { Session } from "../../src/sessions/session.js";
import { createWorkspaceStore } from "../../src/storage/workspace-store.js";
import { startTestBot, waitFor, type TestBot } from "../helpers/bot.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { FAKE_GITLAB_TOKEN, FakeGitLab } from "../helpers/fake-gitlab.js";
import { nockGitHub } from "../helpers/nock-github.js";
import { FAKE_GITLAB_URL, nockGitLab } from "../helpers/nock-gitlab.js";
import { authorize, callback, formTokenFor, GITHUB_SIGN_IN_ENV, pageForm, postForm, SESSION_COOKIE, setCookie, SIGN_IN_COOKIE, startSignIn } from "../helpers/sign-in.js";
import { addCheckpoint, LINK_SECRET, signedPath, toolStep } from "../integration/web/support.js";
import { writeFigures } from "./support.js";

/**
 * Sign-in and the page's buttons under hostile input, on GitHub and GitLab (their fakes' OAuth
 * endpoints behind nock): a few hundred seeded random and replayed `state`/`code` callbacks,
 * tampered session cookies, cross-site and token-less POSTs to Retry, Stop and Sign out,
 * `return_to` aimed at other hosts, and a permission removed between loading a page and
 * pressing its button. Throughout: nothing is created, stopped or signed out, nothing of a
 * private repository's sessions shows in any answer, and nothing answers 5xx.
 */

const SEED = Number(process.env.FAULT_SEED ?? 2020);
const PUBLIC_ORIGIN = "http://forgebot.test";
const FORGES: ForgeName[] = ["github", "gitlab"];

/** mulberry32: small, seeded, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const randomId = () => Array.from({ length: 43 }, () => pick([...B64URL])).join("");
/** Text no form or forge would send: symbols, percent signs, unicode, control characters. */
function garbage(options: { header?: boolean } = {}): string {
  const pool = options.header ? [..."!#$%&'()*+-./:<=>?@[]^_`{|}~ \"", ...B64URL] : [..."%&=#?/\\ +.;:'\"<>", "\u0000", "\n", "\u00e9", "\u202e", "\ud83d\ude00", "%zz", "%00", ...B64URL];
  return Array.from({ length: int(90) }, () => pick(pool)).join("");
}
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const echoFlow: Flow = {
  name: "chat",
  async run(session) {
    return { kind: "finished", markdown: `Echo: ${session.prompt}` };
  },
};

let database: TestDatabase;
let bot: TestBot;
let github: FakeGitHub;
let gitlab: FakeGitLab;

/** What a private repository's session holds, per forge: none of it may show to a request that may not see it. */
const SECRETS: Record<ForgeName, { prompt: string; result: string; timeline: string; step: string; patch: string }> = Object.fromEntries(
  FORGES.map((f) => {
    const tag = `${f}-${randomBytes(6).toString("hex")}`;
    return [f, { prompt: `PRIVATE-PROMPT-${tag}`, result: `PRIVATE-RESULT-${tag}`, timeline: `PRIVATE-TIMELINE-${tag}`, step: `PRIVATE-STEP-${tag}`, patch: `PRIVATE-PATCH-${tag}` }];
  }),
) as never;
const ALL_SECRETS = FORGES.flatMap((f) => Object.values(SECRETS[f]));

type Seeded = { ended: Session; running: Session };
const seeded = {} as Record<ForgeName, Seeded>;
let sessionCount = 0;

type User = { id: number; login: string; cookie: string; cookieId: string };
/** Per forge: a writer, a reader and someone who may not read the repository, each signed in. */
const users = {} as Record<ForgeName, { writer: User; reader: User; stranger: User; writerAgain: User }>;

/** Statuses seen, per group of cases; every case that went wrong, said in one line. */
const statuses = new Map<string, Map<number, number>>();
const cases = new Map<string, number>();
/** Each `return_to` form and what became of it: refused, or the path it was kept as. */
const returnToOutcomes: Record<string, string> = {};
const problems: string[] = [];

function thread(forge: ForgeName, number: number): ThreadRef {
  return forge === "github"
    ? { forge, host: "github.com", repoId: "186853002", repoPath: "Codertocat/Hello-World", installationId: 4242, kind: "issue", number, visibility: "private" }
    : { forge, host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number, visibility: "private" };
}

/** A private repository's session, straight through the store: ended with a result, a timeline, a step and a patch, or running. */
async function seed(forge: ForgeName, status: "finished" | "running", number: number): Promise<Session> {
  const store = bot.bot.deps.sessions;
  const key = `fuzz-${forge}-${number}`;
  const s = SECRETS[forge];
  const { session } = await store.createSession({
    thread: thread(forge, number),
    triggerKey: key,
    triggerCommentId: key,
    actor: { id: "1", login: "someone" },
    command: "chat",
    prompt: `${s.prompt} (${status})`,
    flow: "chat",
    parentSessionId: null,
    origin: "mention",
    title: "A private thread",
    threadUrl: undefined,
    triggerCreatedAt: new Date().toISOString(),
  });
  sessionCount++;
  await store.transition(session.id, "start", { run: 1 });
  await store.addEvent(session.id, "error", { reason: "internal", detail: s.timeline });
  await addCheckpoint(database.db, session.id, 1, toolStep(s.step, "get_thread", {}, { text: s.step }));
  if (status === "finished") {
    await store.update(session.id, { result: s.result });
    await store.transition(session.id, "finish");
    const diff = `diff --git a/secret.txt b/secret.txt\nnew file mode 100644\n--- /dev/null\n+++ b/secret.txt\n@@ -0,0 +1 @@\n+${s.patch}\n`;
    await createWorkspaceStore(database.db).savePatch({
      sessionId: session.id,
      run: 1,
      baseRef: "main",
      baseSha: "0".repeat(40),
      summary: { diff, stat: " secret.txt | 1 +", bytes: diff.length, filesChanged: 1, insertions: 1, deletions: 0, files: [] },
      contents: [{ path: "secret.txt", mode: "100644", content: Buffer.from(`${s.patch}\n`) }],
    });
    const stored = await store.getSession(session.id);
    await store.update(session.id, { replyNoteId: "1", startedNoteDeletedAt: new Date(), callbackContext: { ...stored.callbackContext, replyNote: { id: "1", type: "issue_comment" }, replyRun: 1 } });
  }
  return store.getSession(session.id);
}

/** Signs in on `forge` as a user with a role there (GitHub role; GitLab access level, 0 = not a member). */
async function signInAs(forge: ForgeName, id: number, login: string, role: string | number): Promise<User> {
  if (forge === "github") {
    github.permissions.set(login, String(role));
    github.oauthUser = { id, login };
  } else {
    gitlab.members.set(id, Number(role));
    gitlab.oauthUser = { id, username: login };
  }
  const start = await startSignIn(bot.baseUrl, forge);
  const res = await callback(bot.baseUrl, await authorize(start.authorizeUrl), start.browserCookie);
  const cookie = setCookie(res, SESSION_COOKIE);
  if (!cookie?.value) throw new Error(`sign-in as ${login} failed: ${res.status}`);
  return { id, login, cookie: `${SESSION_COOKIE}=${cookie.value}`, cookieId: cookie.value };
}

function setRole(forge: ForgeName, user: User, role: string | number): void {
  if (forge === "github") github.permissions.set(user.login, String(role));
  else gitlab.members.set(user.id, Number(role));
}

function count(group: string, status: number): void {
  const seen = statuses.get(group) ?? new Map<number, number>();
  seen.set(status, (seen.get(status) ?? 0) + 1);
  statuses.set(group, seen);
  cases.set(group, (cases.get(group) ?? 0) + 1);
}

type Hit = { status: number; text: string; res: Response };

/**
 * One hostile request: its status is counted, a 5xx, an unexpected status, a session cookie set
 * or any private session's content in the answer is a problem.
 */
async function hostile(group: string, label: string, path: string, init: RequestInit & { expect: readonly number[] }): Promise<Hit> {
  const { expect: allowed, ...rest } = init;
  const res = await fetch(`${bot.baseUrl}${path}`, { redirect: "manual", signal: AbortSignal.timeout(10_000), ...rest });
  let text: string;
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    // A stream that opened: read what it sends at once, then leave.
    const reader = res.body!.getReader();
    const first = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
    text = first && first.value ? Buffer.from(first.value).toString("utf8") : "";
    await reader.cancel();
  } else {
    text = await res.text();
  }
  count(group, res.status);
  const where = `[seed ${SEED}] ${group} / ${label}`;
  if (res.status >= 500) problems.push(`${where}: ${res.status}`);
  if (!allowed.includes(res.status)) problems.push(`${where}: status ${res.status}, expected ${allowed.join(" or ")}`);
  const session = setCookie(res, SESSION_COOKIE);
  if (session && session.value !== "") problems.push(`${where}: set a session cookie`);
  for (const secret of ALL_SECRETS) if (text.includes(secret)) problems.push(`${where}: showed ${secret}`);
  return { status: res.status, text, res };
}

function formInit(fields: Record<string, string> | string, headers: Record<string, string | null>, contentType: string | null = "application/x-www-form-urlencoded"): RequestInit {
  const all: Record<string, string | null> = { "content-type": contentType, origin: bot.baseUrl, "sec-fetch-site": "same-origin", ...headers };
  return {
    method: "POST",
    headers: Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null)),
    body: typeof fields === "string" ? fields : new URLSearchParams(fields).toString(),
  };
}

const tokenFor = (user: User, purpose: string) => formTokenFor(LINK_SECRET, user.cookieId, purpose);

/** Nothing was done: no session created, the running ones still running, no note written, the writers still signed in. */
async function nothingHappened(group: string): Promise<void> {
  const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions");
  if (rows[0]!.n !== sessionCount) problems.push(`${group}: ${rows[0]!.n - sessionCount} session(s) created`);
  for (const forge of FORGES) {
    const status = (await bot.bot.deps.sessions.getSession(seeded[forge].running.id)).status;
    if (status !== "running") problems.push(`${group}: ${forge}'s running session is ${status}`);
    for (const who of ["writer", "reader", "stranger", "writerAgain"] as const) {
      const { rowCount } = await database.db.query("SELECT 1 FROM web_sessions WHERE id_hash = $1 AND expires_at > now()", [sha256(users[forge][who].cookieId)]);
      if (rowCount !== 1) problems.push(`${group}: ${forge}'s ${who} was signed out`);
    }
  }
  const writes = [...github.writes().map((w) => `github ${w.method} ${w.path}`), ...gitlab.writes().map((w) => `gitlab ${w.method} ${w.path}`)];
  if (writes.length) problems.push(`${group}: forge writes ${writes.join(", ")}`);
  const { rows: events } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM session_events WHERE kind NOT IN ('error', 'reply_posted')");
  if (events[0]!.n !== baselineEvents) problems.push(`${group}: ${events[0]!.n - baselineEvents} session event(s) recorded`);
}
let baselineEvents = 0;

function takeProblems(): string[] {
  return problems.splice(0, problems.length);
}

beforeAll(async () => {
  database = await createTestDatabase();
  github = new FakeGitHub();
  gitlab = new FakeGitLab();
  nockGitHub(github);
  nockGitLab(gitlab);
  bot = await startTestBot({
    databaseUrl: database.url,
    flows: [echoFlow],
    env: {
      ...GITHUB_SIGN_IN_ENV,
      GITLAB_URL: FAKE_GITLAB_URL,
      GITLAB_TOKEN: FAKE_GITLAB_TOKEN,
      GITLAB_WEBHOOK_SECRET: "gitlab-hook-secret",
      GITLAB_OAUTH_CLIENT_ID: "fake-gitlab-app",
      GITLAB_OAUTH_CLIENT_SECRET: "fake-gitlab-secret",
      // Not what this file is about: keep the background passes away from the seeded sessions.
      REAPER_INTERVAL_MS: "3600000",
      RECONCILE_INTERVAL_MS: "3600000",
    },
  });
  for (const [i, forge] of FORGES.entries()) {
    seeded[forge] = { ended: await seed(forge, "finished", 10 + i), running: await seed(forge, "running", 20 + i) };
    const base = forge === "github" ? 7100 : 4100;
    const [writerRole, readerRole, strangerRole] = forge === "github" ? ["write", "read", "none"] : [30, 10, 0];
    users[forge] = {
      writer: await signInAs(forge, base + 1, `${forge}-writer`, writerRole),
      reader: await signInAs(forge, base + 2, `${forge}-reader`, readerRole),
      stranger: await signInAs(forge, base + 3, `${forge}-stranger`, strangerRole),
      // The writer again, from another browser: another web session, other form tokens.
      writerAgain: await signInAs(forge, base + 1, `${forge}-writer`, writerRole),
    };
  }
  baselineEvents = (await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM session_events WHERE kind NOT IN ('error', 'reply_posted')")).rows[0]!.n;
  // The writer sees everything: the check below would notice content if it were there.
  for (const forge of FORGES) {
    const page = await (await fetch(`${bot.baseUrl}${signedPath(seeded[forge].ended.id)}`, { headers: { cookie: users[forge].writer.cookie } })).text();
    expect(page).toContain(SECRETS[forge].prompt);
    expect(page).toContain(SECRETS[forge].result);
    expect(page).toContain(SECRETS[forge].timeline);
    expect(page).toContain(SECRETS[forge].step);
    const patch = await (await fetch(`${bot.baseUrl}${signedPath(seeded[forge].ended.id, "/patch")}`, { headers: { cookie: users[forge].writer.cookie } })).text();
    expect(patch).toContain(SECRETS[forge].patch);
  }
}, 60_000);

afterAll(async () => {
  writeFigures("sign-in-fuzz", {
    seed: SEED,
    cases: Object.fromEntries(cases),
    requests: [...cases.values()].reduce((a, b) => a + b, 0),
    statuses: Object.fromEntries([...statuses].map(([group, seen]) => [group, Object.fromEntries([...seen].sort(([a], [b]) => a - b))])),
    returnTo: returnToOutcomes,
  });
  await bot?.stop();
  await database?.drop();
  nock.cleanAll();
  nock.enableNetConnect();
});

type Live = { forge: ForgeName; state: string; browser: string; code: string };

/** Sign-ins started and authorized at the forge, not yet finished: a real state, its browser and its code. */
async function liveSignIns(forge: ForgeName, n: number): Promise<Live[]> {
  const out: Live[] = [];
  for (let i = 0; i < n; i++) {
    const start = await startSignIn(bot.baseUrl, forge);
    const back = await authorize(start.authorizeUrl);
    out.push({ forge, state: back.searchParams.get("state")!, browser: start.browserCookie, code: back.searchParams.get("code")! });
  }
  return out;
}

const callbackPath = (forge: ForgeName, params: Record<string, string | null>) =>
  `/auth/${forge}/callback?${Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("&")}`;

describe("random and replayed state and code", () => {
  it("300 seeded callbacks per the two forges: each refused with a 4xx, no web session, no state spent but its own", async () => {
    const live = { github: await liveSignIns("github", 8), gitlab: await liveSignIns("gitlab", 8) };
    // Two finished sign-ins per forge: spent states and used codes to replay.
    const spent: Record<ForgeName, Live[]> = { github: [], gitlab: [] };
    for (const forge of FORGES) {
      for (const entry of await liveSignIns(forge, 2)) {
        const res = await callback(bot.baseUrl, new URL(callbackPath(forge, { code: entry.code, state: entry.state }), PUBLIC_ORIGIN), entry.browser);
        expect(setCookie(res, SESSION_COOKIE)?.value).toMatch(/^[\w-]{43}$/);
        spent[forge].push(entry);
      }
    }
    const webSessionsBefore = (await database.db.query("SELECT 1 FROM web_sessions")).rowCount;
    const kinds = ["random-state", "garbage-state", "no-state", "spent-state", "live-state-other-browser", "other-forge-state", "expired-state", "replayed-code", "foreign-code", "forge-error"] as const;
    const cookieFor = (owner: Live | null, forge: ForgeName): string | null => {
      const others = live[forge].filter((l) => l !== owner);
      const choice = int(6);
      if (choice === 0) return null;
      if (choice === 1) return `${SIGN_IN_COOKIE}=${randomId()}`;
      if (choice === 2) return `${SIGN_IN_COOKIE}=${garbage({ header: true })}`;
      if (choice === 3) return pick(others).browser;
      if (choice === 4 && owner) return `${owner.browser.slice(0, -1)}${owner.browser.endsWith("A") ? "B" : "A"}`;
      return owner ? `${SIGN_IN_COOKIE}=${owner.browser.split("=")[1]!.slice(0, int(43))}` : null;
    };
    for (let i = 0; i < 300; i++) {
      const forge = FORGES[i % 2]!;
      const other = forge === "github" ? "gitlab" : "github";
      const kind = pick(kinds);
      const anyCode = () => pick([randomId().slice(0, 20), pick(live[forge]).code, pick(spent[forge]).code, garbage(), "x".repeat(600)]);
      let params: Record<string, string | null>;
      let cookie: string | null;
      let allowed: readonly number[] = [400];
      if (kind === "random-state") {
        params = { code: anyCode(), state: randomId() };
        cookie = pick([null, pick(live[forge]).browser, `${SIGN_IN_COOKIE}=${randomId()}`]);
      } else if (kind === "garbage-state") {
        params = { code: anyCode(), state: garbage() };
        cookie = pick([null, pick(live[forge]).browser]);
      } else if (kind === "no-state") {
        params = { code: anyCode(), state: pick([null, ""]) };
        cookie = pick([null, pick(live[forge]).browser]);
      } else if (kind === "spent-state") {
        const entry = pick(spent[forge]);
        params = { code: pick([entry.code, pick(live[forge]).code]), state: entry.state };
        cookie = pick([entry.browser, pick(live[forge]).browser, null]);
      } else if (kind === "live-state-other-browser") {
        const entry = pick(live[forge]);
        params = { code: entry.code, state: entry.state };
        cookie = cookieFor(entry, forge);
      } else if (kind === "other-forge-state") {
        // The other forge's live sign-in, in its own browser: not this forge's state.
        const entry = pick(live[other]);
        params = { code: entry.code, state: entry.state };
        cookie = entry.browser;
      } else if (kind === "expired-state") {
        const [entry] = await liveSignIns(forge, 1);
        await database.db.query("UPDATE sign_in_states SET expires_at = now() - interval '1 second' WHERE state_hash = $1", [sha256(entry!.state)]);
        params = { code: entry!.code, state: entry!.state };
        cookie = entry!.browser;
      } else if (kind === "replayed-code" || kind === "foreign-code") {
        // A state this browser really started, with a code already exchanged — or, on GitLab, one
        // issued to another sign-in (PKCE binds it to that one's verifier).
        const start = await startSignIn(bot.baseUrl, forge);
        const state = new URL(start.authorizeUrl).searchParams.get("state")!;
        const code = kind === "foreign-code" && forge === "gitlab" ? pick(live.gitlab).code : pick(spent[forge]).code;
        params = { code, state };
        cookie = start.browserCookie;
      } else {
        const start = await startSignIn(bot.baseUrl, forge);
        const state = new URL(start.authorizeUrl).searchParams.get("state")!;
        const error = pick(["access_denied", "server_error", "temporarily_unavailable", garbage()]);
        params = { error, error_description: garbage(), state, ...(random() < 0.5 ? { code: anyCode() } : {}) };
        cookie = start.browserCookie;
        allowed = error === "access_denied" ? [403] : [400];
      }
      await hostile("callback", `#${i} ${forge} ${kind}`, callbackPath(forge, params), { headers: cookie ? { cookie } : {}, expect: allowed });
    }
    const webSessionsAfter = (await database.db.query("SELECT 1 FROM web_sessions")).rowCount;
    expect(takeProblems()).toEqual([]);
    expect(webSessionsAfter).toBe(webSessionsBefore);
    // Refusals spent nothing of the sign-ins they did not own: each live one still finishes, once.
    for (const forge of FORGES) {
      const entry = live[forge][0]!;
      const ok = await callback(bot.baseUrl, new URL(callbackPath(forge, { code: entry.code, state: entry.state }), PUBLIC_ORIGIN), entry.browser);
      expect(setCookie(ok, SESSION_COOKIE)?.value).toMatch(/^[\w-]{43}$/);
    }
    await nothingHappened("callback");
    expect(takeProblems()).toEqual([]);
  }, 60_000);
});

describe("tampered session cookies", () => {
  it("flipped, truncated, stretched, another user's, another forge's, expired or signed out: no content, no action", async () => {
    for (const forge of FORGES) {
      const { ended, running } = seeded[forge];
      const { writer, reader, stranger } = users[forge];
      const other = users[forge === "github" ? "gitlab" : "github"].writer;
      const id = writer.cookieId;
      const expired = await signInAs(forge, writer.id, writer.login, forge === "github" ? "write" : 30);
      await database.db.query("UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1", [sha256(expired.cookieId)]);
      const signedOut = await signInAs(forge, writer.id, writer.login, forge === "github" ? "write" : 30);
      const out = await postForm(`${bot.baseUrl}/auth/logout`, { token: tokenFor(signedOut, "logout") }, { cookie: signedOut.cookie });
      expect(out.status).toBe(200);

      const flip = (s: string, at: number, to?: string) => {
        const alt = to ?? pick([...B64URL].filter((c) => c !== s[at]));
        return `${s.slice(0, at)}${alt}${s.slice(at + 1)}`;
      };
      const variants: [string, string][] = [];
      for (let k = 0; k < 12; k++) variants.push([`flipped char ${k}`, `${SESSION_COOKIE}=${flip(id, int(43))}`]);
      for (let k = 0; k < 4; k++) variants.push([`flipped to a symbol ${k}`, `${SESSION_COOKIE}=${flip(id, int(43), pick([..."!$*+.~%"]))}`]);
      for (let k = 0; k < 4; k++) variants.push([`truncated ${k}`, `${SESSION_COOKIE}=${id.slice(0, int(43))}`]);
      variants.push(
        ["stretched", `${SESSION_COOKIE}=${id}${randomId().slice(0, 1 + int(5))}`],
        ["case swapped", `${SESSION_COOKIE}=${[...id].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("")}`],
        ["quoted", `${SESSION_COOKIE}="${id}"`],
        ["percent-encoded", `${SESSION_COOKIE}=${id.slice(0, 5)}%${id.charCodeAt(5).toString(16)}${id.slice(6)}`],
        ["a space inside", `${SESSION_COOKIE}=${id.slice(0, 10)} ${id.slice(10)}`],
        ["a tampered copy first", `${SESSION_COOKIE}=${flip(id, 0)}; ${SESSION_COOKIE}=${id}`],
        ["another cookie name", `${SESSION_COOKIE}s=${id}`],
        ["garbage", `${SESSION_COOKIE}=${garbage({ header: true }).replace(/;/g, "")}`],
        ["the id's hash", `${SESSION_COOKIE}=${sha256(id)}`],
        ["expired", expired.cookie],
        ["signed out", signedOut.cookie],
        ["another user's (may not read)", stranger.cookie],
        ["another forge's writer", other.cookie],
      );
      for (const [what, cookie] of variants) {
        const label = `${forge} ${what}`;
        const headers = { cookie };
        for (const [path, allowed] of [
          [signedPath(ended.id), [401, 403]],
          [signedPath(running.id), [401, 403]],
          [`/api${signedPath(ended.id)}`, [401, 403]],
          [signedPath(running.id, "/events"), [401, 403]],
          [signedPath(ended.id, "/patch"), [401, 403]],
          ["/sessions", [401, 403]],
        ] as const) {
          await hostile("cookies", `${label} GET ${path.split("?")[0]}`, path, { headers, expect: allowed });
        }
        await hostile("cookies", `${label} retry`, signedPath(ended.id, "/retry"), { ...formInit({ token: tokenFor(writer, `retry:${ended.id}`) }, headers), expect: [401, 403] });
        await hostile("cookies", `${label} stop`, signedPath(running.id, "/stop"), { ...formInit({ token: tokenFor(writer, `stop:${running.id}`) }, headers), expect: [401, 403] });
        // Signing out nobody is harmless (200); another user's cookie with the writer's token is refused.
        await hostile("cookies", `${label} logout`, "/auth/logout", { ...formInit({ token: tokenFor(writer, "logout") }, headers), expect: [200, 403] });
      }
      // The reader may read, not act: their cookie with their own tokens, or with the writer's.
      for (const token of [tokenFor(reader, `retry:${ended.id}`), tokenFor(writer, `retry:${ended.id}`)]) {
        await hostile("cookies", `${forge} reader retry`, signedPath(ended.id, "/retry"), { ...formInit({ token }, { cookie: reader.cookie }), expect: [403] });
      }
      await hostile("cookies", `${forge} reader stop`, signedPath(running.id, "/stop"), { ...formInit({ token: tokenFor(reader, `stop:${running.id}`) }, { cookie: reader.cookie }), expect: [403] });
    }
    expect(takeProblems()).toEqual([]);
    await nothingHappened("cookies");
    expect(takeProblems()).toEqual([]);
  }, 60_000);
});

describe("cross-site and token-less POSTs", () => {
  it("to Retry, Stop and Sign out, with the writer's own cookie: refused, nothing done", async () => {
    for (const forge of FORGES) {
      const { ended, running } = seeded[forge];
      const { writer, writerAgain, reader } = users[forge];
      const targets = [
        { name: "retry", path: signedPath(ended.id, "/retry"), purpose: `retry:${ended.id}`, wrongPurpose: `stop:${ended.id}` },
        { name: "stop", path: signedPath(running.id, "/stop"), purpose: `stop:${running.id}`, wrongPurpose: `stop:${ended.id}` },
        { name: "logout", path: "/auth/logout", purpose: "logout", wrongPurpose: `retry:${ended.id}` },
      ];
      for (const t of targets) {
        const good = tokenFor(writer, t.purpose);
        const cookie = writer.cookie;
        const sites: [string, Record<string, string | null>][] = [
          ["Origin of another site", { origin: "https://evil.example", "sec-fetch-site": null }],
          ["Origin null", { origin: "null", "sec-fetch-site": null }],
          ["Origin of a look-alike host", { origin: "http://forgebot.test.evil.example", "sec-fetch-site": null }],
          ["Origin with userinfo", { origin: "http://forgebot.test@evil.example", "sec-fetch-site": null }],
          ["Origin of this host over https", { origin: "https://forgebot.test:8443", "sec-fetch-site": null }],
          ["Sec-Fetch-Site cross-site", { "sec-fetch-site": "cross-site" }],
          ["Sec-Fetch-Site same-site", { "sec-fetch-site": "same-site" }],
          ["Sec-Fetch-Site cross-site with our Origin", { "sec-fetch-site": "cross-site", origin: PUBLIC_ORIGIN }],
        ];
        for (const [what, headers] of sites) {
          await hostile("cross-site", `${forge} ${t.name} ${what}`, t.path, { ...formInit({ token: good }, { cookie, ...headers }), expect: [403] });
        }
        const tokens: [string, Record<string, string> | string][] = [
          ["no token", {}],
          ["an empty token", { token: "" }],
          ["a random token", { token: randomId() }],
          ["a token for another button", { token: tokenFor(writer, t.wrongPurpose) }],
          ["a token of another web session", { token: tokenFor(writerAgain, t.purpose) }],
          ["another user's token", { token: tokenFor(reader, t.purpose) }],
          ["a token with a space", { token: `${good} ` }],
          ["a bad token before the good one", `token=${randomId()}&token=${good}`],
          ["the token, truncated", { token: good.slice(0, -1) }],
        ];
        for (const [what, fields] of tokens) {
          await hostile("form-token", `${forge} ${t.name} ${what}`, t.path, { ...formInit(fields, { cookie }), expect: [403] });
        }
        const types: [string, string | null, string][] = [
          ["JSON", "application/json", JSON.stringify({ token: good })],
          ["text/plain", "text/plain", `token=${good}`],
          ["multipart", "multipart/form-data; boundary=x", `--x\r\nContent-Disposition: form-data; name="token"\r\n\r\n${good}\r\n--x--\r\n`],
          ["no content type", null, `token=${good}`],
        ];
        for (const [what, type, body] of types) {
          // Sign-out reads no form but ours: a body of another type carries no token, so a signed-in browser is refused.
          await hostile("form-type", `${forge} ${t.name} ${what}`, t.path, { ...formInit(body, { cookie }, type), expect: [403] });
        }
        await hostile("form-type", `${forge} ${t.name} oversized`, t.path, { ...formInit({ token: good, pad: "x".repeat(9000) }, { cookie }), expect: [413] });
      }
    }
    expect(takeProblems()).toEqual([]);
    await nothingHappened("cross-site");
    expect(takeProblems()).toEqual([]);
  }, 60_000);
});

/** `return_to` values meant to leave the site (decoded: as the query parameter arrives). */
const RETURN_TO = [
  "//evil.example",
  "//evil.example/sessions/1?sig=x",
  "///evil.example",
  "////evil.example",
  "/\\evil.example",
  "\\/evil.example",
  "\\\\evil.example",
  "/\\/evil.example",
  "https:evil.example",
  "https:/evil.example",
  "https://evil.example",
  "HTTPS://evil.example",
  "http://forgebot.test@evil.example/",
  "http://forgebot.test/sessions/1",
  "//forgebot.test@evil.example",
  "javascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "/\t/evil.example",
  "/\n/evil.example",
  "/\r\n/evil.example",
  "/sessions\r\nLocation: https://evil.example",
  "\u0000//evil.example",
  " //evil.example",
  "%2F%2Fevil.example",
  "/%2F%2Fevil.example",
  "/%5Cevil.example",
  "/%5C%5Cevil.example",
  "/%09/evil.example",
  "/.//evil.example",
  "/..//evil.example",
  "/%2e//evil.example",
  "/%2E%2E//evil.example/x?y=1",
  "/a/..//evil.example",
  "/sessions/1/../..//evil.example",
  "/./\\evil.example",
  "/\u3000/evil.example",
  "\u2215\u2215evil.example",
  "/\uff0fevil.example",
  "//evil.example\\@forgebot.test",
];

/** A Location this site may send: a path of this site, nothing that a browser would read as another host. */
function staysOnSite(location: string): boolean {
  if (!location.startsWith("/") || location.startsWith("//") || location.startsWith("/\\")) return false;
  if (/[\u0000-\u001f\u007f\\]/.test(location)) return false;
  return new URL(location, PUBLIC_ORIGIN).origin === PUBLIC_ORIGIN;
}

describe("return_to aimed at other hosts", () => {
  it(`${RETURN_TO.length} tricky forms on sign-in (both forges) and sign-out: refused, or kept on this site`, async () => {
    const outcomes: Record<string, string> = {};
    for (const forge of FORGES) {
      for (const target of RETURN_TO) {
        const label = `${forge} ${JSON.stringify(target)}`;
        const statesBefore = (await database.db.query("SELECT 1 FROM sign_in_states")).rowCount;
        const start = await hostile("return_to", `${label} start`, `/auth/${forge}?return_to=${encodeURIComponent(target)}`, { expect: [302, 400] });
        if (start.status === 400) {
          outcomes[`${forge} ${target}`] = "refused";
          if (start.res.headers.getSetCookie().length) problems.push(`${label}: a refusal set a cookie`);
          if ((await database.db.query("SELECT 1 FROM sign_in_states")).rowCount !== statesBefore) problems.push(`${label}: a refusal stored a state`);
          continue;
        }
        // Accepted: finish the sign-in and see where the browser is sent.
        const browser = setCookie(start.res, SIGN_IN_COOKIE)!;
        const res = await callback(bot.baseUrl, await authorize(start.res.headers.get("location")!), `${SIGN_IN_COOKIE}=${browser.value}`);
        count("return_to", res.status);
        const location = res.headers.get("location") ?? "";
        outcomes[`${forge} ${target}`] = `kept as ${JSON.stringify(location)}`;
        if (res.status !== 303 || !staysOnSite(location)) problems.push(`${label}: after sign-in, ${res.status} to ${JSON.stringify(location)}`);
      }
    }
    // Sign-out's return_to, with a valid form of a signed-in browser.
    for (const target of RETURN_TO) {
      const user = await signInAs("github", 7109, "github-leaver", "read");
      const res = await hostile("return_to", `logout ${JSON.stringify(target)}`, "/auth/logout", { ...formInit({ token: tokenFor(user, "logout"), return_to: target }, { cookie: user.cookie }), expect: [200, 303] });
      const location = res.res.headers.get("location");
      if (location !== null && !staysOnSite(location)) problems.push(`logout ${JSON.stringify(target)}: sent to ${JSON.stringify(location)}`);
      outcomes[`logout ${target}`] = location === null ? "no redirect" : `kept as ${JSON.stringify(location)}`;
    }
    Object.assign(returnToOutcomes, outcomes);
    expect(takeProblems()).toEqual([]);
    await nothingHappened("return_to");
    expect(takeProblems()).toEqual([]);
  }, 60_000);
});

describe("permission removed between loading the page and pressing its button", () => {
  it("a writer demoted to read (or none) after loading the page: Retry and Stop answer 403, nothing created; restored, the same forms work", async () => {
    for (const forge of FORGES) {
      const { ended, running } = seeded[forge];
      const { writer } = users[forge];
      const retryPage = await (await fetch(`${bot.baseUrl}${signedPath(ended.id)}`, { headers: { cookie: writer.cookie } })).text();
      const stopPage = await (await fetch(`${bot.baseUrl}${signedPath(running.id)}`, { headers: { cookie: writer.cookie } })).text();
      const retry = pageForm(retryPage, "retry")!;
      const stop = pageForm(stopPage, "stop")!;
      expect(retry).not.toBeNull();
      expect(stop).not.toBeNull();
      for (const role of forge === "github" ? ["read", "triage", "none"] : [20, 10, 0]) {
        setRole(forge, writer, role);
        // The page view cached "write" a moment ago; the buttons ask the forge afresh.
        await hostile("permission", `${forge} retry as ${role}`, retry.action, { ...formInit({ token: retry.token }, { cookie: writer.cookie }), expect: [403] });
        await hostile("permission", `${forge} stop as ${role}`, stop.action, { ...formInit({ token: stop.token }, { cookie: writer.cookie }), expect: [403] });
      }
    }
    expect(takeProblems()).toEqual([]);
    await nothingHappened("permission");
    expect(takeProblems()).toEqual([]);

    // The same forms, the permission back: they work, so it was the permission that refused them.
    for (const forge of FORGES) {
      const { ended, running } = seeded[forge];
      const { writer } = users[forge];
      setRole(forge, writer, forge === "github" ? "write" : 30);
      const retry = await postForm(`${bot.baseUrl}${signedPath(ended.id, "/retry")}`, { token: tokenFor(writer, `retry:${ended.id}`) }, { cookie: writer.cookie });
      expect(retry.status).toBe(303);
      const stop = await postForm(`${bot.baseUrl}${signedPath(running.id, "/stop")}`, { token: tokenFor(writer, `stop:${running.id}`) }, { cookie: writer.cookie });
      expect(stop.status).toBe(303);
      expect((await bot.bot.deps.sessions.getSession(running.id)).status).toBe("stopped");
      const { rows } = await database.db.query<{ id: number; actor_login: string }>("SELECT id, actor_login FROM sessions WHERE parent_session_id = $1", [ended.id]);
      expect(rows).toEqual([{ id: expect.any(Number), actor_login: writer.login }]);
    }
    await waitFor("the retries' replies", () => github.live().some((c) => c.body.includes("forgebot:reply")) && gitlab.writes().some((w) => w.method === "POST"));
  }, 60_000);
});

describe("across every case", () => {
  it("no answer was a 5xx", () => {
    const all = [...statuses.values()].flatMap((seen) => [...seen]);
    expect(all.filter(([status]) => status >= 500)).toEqual([]);
    expect(all.reduce((n, [, k]) => n + k, 0)).toBeGreaterThan(1000);
  });
});
