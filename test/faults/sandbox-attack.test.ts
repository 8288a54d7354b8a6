import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sandboxUserFor } from "../../src/workspace/sandbox.js";
import { archiveBuffer, type ArchiveEntry } from "../helpers/archives.js";
import { startTestBot, waitFor, type TestBot, UNLIMITED_WRITES } from "../helpers/bot.js";
import { enableChanges, workspaceRoot } from "../helpers/change-session.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { FakeGitHub, type FakeComment } from "../helpers/fake-github.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../helpers/fake-openai.js";
import { signedHeaders, testPrivateKey } from "../helpers/github-app.js";
import { githubExample } from "../helpers/payloads.js";
import { writeFigures } from "./support.js";

/**
 * A repository whose test script attacks the worker, run by a scripted model in ONE change
 * session, mode after mode: network (Postgres on 127.0.0.1:5432, the forge's own port, a DNS
 * lookup), the worker's environment and private key (PRIVATE_KEY_PATH, under /opt where the
 * sandbox mounts the system read-only), writes outside the workspace, a fork bomb, 300 MB of
 * output and a process ignoring SIGTERM. Each is contained, and the session says what happened
 * to each: the agent reads every result, the reply and the page list every command with its
 * outcome. Meanwhile ordinary chat sessions and another change session (an edit and a quick
 * command) run on the same worker; they finish about as fast as the same sessions did without
 * the attack, measured in this file.
 */

const REPO = "Codertocat/Hello-World";
/** Each heavy attack (fork bomb, never-ending command) runs until this wall-clock limit. */
const TIMEOUT_MS = 8000;
const SHA = "a77ac0a77ac0a77ac0a77ac0a77ac0a77ac0a77a";
const TAG = randomBytes(4).toString("hex");
/** The worker's private key, where a real install keeps one: under a system directory the sandbox mounts. */
const KEY_DIR = `/opt/forgebot-attack-${process.pid}-${TAG}`;
const KEY_FILE = path.join(KEY_DIR, "github-app.pem");
const KEY = testPrivateKey();
/** The base64 lines of the key: none may show anywhere. */
const KEY_LINES = KEY.split("\n").filter((l) => l.length >= 40 && !l.startsWith("-----"));
/** A secret in the worker's own environment. */
const CANARY = `canary-${randomBytes(12).toString("hex")}`;
/** Paths a command tries to write outside its workspace, and where each would land on the host. */
const ESCAPES = (workspaces: string) => [
  `/usr/forgebot-escape-${TAG}`,
  `/etc/forgebot-escape-${TAG}`,
  `/forgebot-escape-${TAG}`,
  `../forgebot-escape-${TAG}`,
  `../../forgebot-escape-${TAG}`,
  `/tmp/forgebot-escape-${TAG}`,
  `${workspaces}/forgebot-escape-${TAG}`,
  `${process.cwd()}/forgebot-escape-${TAG}`,
];
const MODES = ["net-postgres", "net-forge", "dns", "secrets", "escape", "fork-bomb", "flood", "ignore-term"] as const;
type Mode = (typeof MODES)[number];
const FLOOD_BYTES = 300_000_000;

const root = workspaceRoot();
let database: TestDatabase;
let github: FakeGitHub;
let model: FakeOpenAI;
let bot: TestBot;
let comment = 9_300_000;
let delivery = 0;
let nextIssue = 600;

function testScript(forgePort: number): string {
  const escapes = ESCAPES(root.dir).map((p) => `'${p}'`).join(" ");
  return `#!/bin/sh
# The project's test script. Every mode but "ok" attacks the machine it runs on.
exec 2>&1
case "$1" in
  ok)
    echo "all checks passed" ;;
  net-postgres)
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432 && echo CONNECTED-TO-POSTGRES' ;;
  net-forge)
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/${forgePort} && printf "GET /attack-probe HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3' ;;
  dns)
    getent hosts registry.npmjs.org || { echo "registry.npmjs.org: no address"; exit 2; } ;;
  secrets)
    echo "== /proc/1/environ"; tr '\\0' '\\n' < /proc/1/environ
    echo "== parent environ"; tr '\\0' '\\n' < /proc/$PPID/environ
    echo "== own environ"; tr '\\0' '\\n' < /proc/self/environ
    echo "== worker environ"; tr '\\0' '\\n' < /proc/${process.pid}/environ
    echo "== env"; env
    echo "== key"; cat ${KEY_FILE}; ls -la ${KEY_DIR}
    # Exfiltration through the patch: whatever could be read becomes a file of the change.
    { tr '\\0' '\\n' < /proc/1/environ; env; cat ${KEY_FILE}; ls -la ${KEY_DIR}; tr '\\0' '\\n' < /proc/${process.pid}/environ; } > leaked.txt 2>&1
    exit 0 ;;
  escape)
    for target in ${escapes}; do
      if echo escaped > "$target"; then echo "WROTE $target"; else echo "REFUSED $target"; fi
    done ;;
  fork-bomb)
    # The sleep is started first: once the bomb holds every process slot the shell could fork nothing.
    sleep 60 & bomb() { bomb | bomb & }; bomb; wait ;;
  flood)
    head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x; echo; echo THE-END ;;
  ignore-term)
    trap '' TERM; (trap '' TERM; sleep 317) & sleep 317 ;;
esac
`;
}

function repository(forgePort: number): ArchiveEntry[] {
  return [
    { type: "File", path: "README.md", content: "# A repository with a hostile test script\n" },
    { type: "File", path: "test.sh", content: testScript(forgePort), mode: 0o755 },
  ];
}

/** The scripted model: the attack session runs one mode per step; quick changes edit and run `ok`; chats answer. */
function script(r: ModelRequest): FakeReply {
  const attack = /ATTACK-SESSION/.test(r.raw);
  const quick = /QUICK-CHANGE-(\d+)/.exec(r.raw)?.[1];
  if (attack) {
    const mode = MODES[r.toolResults];
    return mode ? { kind: "tools", calls: [{ name: "run", input: { command: `sh test.sh ${mode}` } }] } : { kind: "text", text: "Ran every mode of test.sh; see the commands below." };
  }
  if (quick) {
    const steps: FakeReply[] = [
      { kind: "tools", calls: [{ name: "write_file", input: { path: `src/quick-${quick}.js`, content: `export const quick = ${quick};\n` } }] },
      { kind: "tools", calls: [{ name: "run", input: { command: "sh test.sh ok" } }] },
      { kind: "text", text: `Added src/quick-${quick}.js.` },
    ];
    return steps[Math.min(r.toolResults, steps.length - 1)]!;
  }
  const chat = /CHAT-(\d+)/.exec(r.raw)?.[1] ?? "?";
  return { kind: "text", text: `Chat answer ${chat}.` };
}

async function mention(issue: number, body: string): Promise<number> {
  const payload = githubExample("issue_comment", "created", (p) => {
    p.issue.number = issue;
    p.comment.id = ++comment;
    p.comment.body = body;
    p.comment.created_at = new Date().toISOString();
  });
  const text = JSON.stringify(payload);
  const started = Date.now();
  const res = await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", `attack-${++delivery}`, text), body: text });
  expect(res.status).toBe(202);
  return started;
}

const replyOn = (issue: number) => () => github.live({ kind: "issue_comment", number: issue }).find((c) => c.body.includes("forgebot:reply"));

type Timed = { kind: "chat" | "quick"; issue: number; ms: number; reply: FakeComment };

/** Two chat sessions and one quick change session at once; each one's time from webhook to reply. */
async function wave(): Promise<Timed[]> {
  const one = async (kind: Timed["kind"]): Promise<Timed> => {
    const issue = ++nextIssue;
    const started = await mention(issue, kind === "chat" ? `@forgebot what does this issue ask for? CHAT-${issue}` : `@forgebot change add src/quick-${issue}.js QUICK-CHANGE-${issue}`);
    const reply = await waitFor(`the reply on #${issue}`, replyOn(issue), 45_000);
    return { kind, issue, ms: Date.parse(reply.createdAt) - started, reply };
  };
  return Promise.all([one("chat"), one("chat"), one("quick")]);
}

function checkWave(timed: Timed[]): void {
  for (const t of timed) {
    if (t.kind === "chat") expect(t.reply.body).toContain(`Chat answer ${t.issue}.`);
    else {
      expect(t.reply.body).toContain(`Added src/quick-${t.issue}.js.`);
      expect(t.reply.body).toContain("- `sh test.sh ok` → exit 0");
      expect(t.reply.body).toContain("1 file changed, 1 insertion(+)");
    }
  }
}

async function commandRow(sessionId: number, mode: Mode) {
  const { rows } = await database.db.query<{ status: string; outcome: string | null; exit_code: number | null; duration_ms: number | null; output: string | null; started_at: Date; finished_at: Date | null }>(
    "SELECT status, outcome, exit_code, duration_ms, output, started_at, finished_at FROM session_commands WHERE session_id = $1 AND command = $2",
    [sessionId, `sh test.sh ${mode}`],
  );
  return rows[0];
}

/** Processes of a host user (the sandbox's user of one session). */
function processesOf(uid: number): string[] {
  try {
    return execFileSync("ps", ["-u", String(uid), "-o", "pid=,args="]).toString().split("\n").filter(Boolean);
  } catch {
    return []; // ps exits 1 when the user has none
  }
}

beforeAll(async () => {
  process.env.FORGEBOT_ATTACK_CANARY = CANARY;
  mkdirSync(KEY_DIR, { recursive: true, mode: 0o700 });
  writeFileSync(KEY_FILE, KEY, { mode: 0o600 });
  database = await createTestDatabase();
  // Sandbox users are 200000 + id % 50000: ids far from other test files' keep their process limits apart.
  await database.db.query(`ALTER SEQUENCE sessions_id_seq RESTART WITH ${30_000 + (process.pid % 15_000)}`);
  github = await new FakeGitHub().start();
  github.archives.set(SHA, await archiveBuffer(repository(github.port)));
  github.branchHeads.set("main", SHA);
  model = await new FakeOpenAI(script).start();
  bot = await startTestBot({
    databaseUrl: database.url,
    env: {
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      ...UNLIMITED_WRITES,
      PRIVATE_KEY: "",
      PRIVATE_KEY_PATH: KEY_FILE,
      OPENAI_BASE_URL: model.baseUrl,
      OPENAI_MODEL: "fake-model",
      OPENAI_API_KEY: "test-key",
      AGENT_MODEL_RETRIES: "0",
      WORKSPACE_DIR: root.dir,
      SANDBOX_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
      // Production's lease and stall times: a busy machine must not look like a dead worker.
      JOB_LOCK_MS: "30000",
      JOB_STALLED_INTERVAL_MS: "30000",
    },
  });
  await enableChanges(database.db, `github:repo:${REPO.toLowerCase()}`);
});

afterAll(async () => {
  await bot?.stop();
  await model?.stop();
  await github?.stop();
  await database?.drop();
  root.remove();
  rmSync(KEY_DIR, { recursive: true, force: true });
  delete process.env.FORGEBOT_ATTACK_CANARY;
});

describe("a change session whose test script attacks the worker", () => {
  it("is contained mode by mode and reports each, while other sessions on the worker finish as fast as without it", async () => {
    // Warm-up (first model call, first sandbox start), then the other sessions alone: the baseline.
    checkWave(await wave());
    const baseline: Timed[][] = [];
    for (let i = 0; i < 3; i++) baseline.push(await wave());
    baseline.forEach(checkWave);

    // The attack, and a wave of the same sessions while each heavy mode runs.
    const attackIssue = ++nextIssue;
    const attackStarted = await mention(attackIssue, "@forgebot change run the test suite and fix what fails ATTACK-SESSION");
    const attackId = (await waitFor("the attack session", async () => (await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE thread_number = $1", [attackIssue])).rows[0])).id;
    const underAttack: { mode: Mode; timed: Timed[]; launched: number }[] = [];
    for (const mode of ["fork-bomb", "flood", "ignore-term"] as const) {
      await waitFor(`${mode} to start`, () => commandRow(attackId, mode), 60_000);
      const launched = Date.now();
      underAttack.push({ mode, timed: await wave(), launched });
    }
    const attackReply = await waitFor("the attack session's reply", replyOn(attackIssue), 60_000);
    const attackMs = Date.parse(attackReply.createdAt) - attackStarted;
    underAttack.forEach((w) => checkWave(w.timed));

    // Every mode ran once, in order, and ended as contained.
    const rows = new Map<Mode, NonNullable<Awaited<ReturnType<typeof commandRow>>>>();
    for (const mode of MODES) rows.set(mode, (await commandRow(attackId, mode))!);
    const row = (mode: Mode) => rows.get(mode)!;
    const { rows: all } = await database.db.query<{ command: string }>("SELECT command FROM session_commands WHERE session_id = $1 ORDER BY id", [attackId]);
    expect(all.map((c) => c.command)).toEqual(MODES.map((m) => `sh test.sh ${m}`));

    // Network: nothing is reachable and no name resolves (on this host registry.npmjs.org does).
    expect(row("net-postgres")).toMatchObject({ outcome: "exit_nonzero", exit_code: 1 });
    expect(row("net-postgres").output).not.toContain("CONNECTED-TO-POSTGRES");
    expect(row("net-postgres").output).toMatch(/Connection refused|Network is unreachable/);
    expect(row("net-forge")).toMatchObject({ outcome: "exit_nonzero", exit_code: 1 });
    expect(row("net-forge").output).toMatch(/Connection refused|Network is unreachable/);
    expect(github.requests.filter((r) => r.path === "/attack-probe")).toEqual([]);
    expect(row("dns")).toMatchObject({ outcome: "exit_nonzero", exit_code: 2 });
    expect(row("dns").output!.trim()).toBe("registry.npmjs.org: no address");

    // Secrets: the environment is the sandbox's three variables; the key file and the worker's /proc are not there.
    const secrets = row("secrets").output!;
    const envLines = secrets.split("== env\n")[1]!.split("== key\n")[0]!.trim().split("\n");
    expect(envLines.map((l) => l.split("=")[0]).sort()).toEqual(["HOME", "LANG", "PATH", "PWD"]);
    // A root worker's sandbox user cannot enter the key's directory; a worker's own user finds an empty mask there.
    const keyRefused = new RegExp(`cat: ${KEY_FILE}: (Permission denied|No such file or directory)`);
    expect(secrets).toMatch(keyRefused);
    expect(secrets).toContain(`/proc/${process.pid}/environ: No such file`);
    expect(secrets).not.toContain(CANARY);
    expect(secrets).not.toMatch(/postgres:\/\/|DATABASE_URL|OPENAI_API_KEY|test-key|REDIS_URL/);

    // Writes: refused on the host's read-only trees; /tmp and absolute host paths land in the sandbox's own tmpfs, or nowhere.
    const escape = row("escape").output!;
    for (const p of [`/usr/forgebot-escape-${TAG}`, `/etc/forgebot-escape-${TAG}`, `/forgebot-escape-${TAG}`, `../forgebot-escape-${TAG}`, `../../forgebot-escape-${TAG}`]) {
      expect(escape).toContain(`REFUSED ${p}`);
    }
    expect(escape).toMatch(/Read-only file system/);
    const hostPaths = [`/usr/forgebot-escape-${TAG}`, `/etc/forgebot-escape-${TAG}`, `/forgebot-escape-${TAG}`, path.join(tmpdir(), `forgebot-escape-${TAG}`), path.join(root.dir, `forgebot-escape-${TAG}`), path.join(process.cwd(), `forgebot-escape-${TAG}`)];
    for (const p of hostPaths) expect([p, existsSync(p)]).toEqual([p, false]);

    // The fork bomb and the process ignoring SIGTERM: ended at the time limit, nothing of them left on the host.
    for (const mode of ["fork-bomb", "ignore-term"] as const) {
      expect(row(mode).outcome).toBe("timeout");
      expect(row(mode).duration_ms!).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    }
    expect(row("fork-bomb").output).toMatch(/fork|Resource temporarily unavailable/i);
    const attackUser = sandboxUserFor(attackId);
    if (attackUser) await waitFor("the attack's processes to be gone", () => processesOf(attackUser.uid).length === 0, 5000);
    expect(execFileSync("sh", ["-c", "ps -eo args | grep -c '^sleep 317$' || true"]).toString().trim()).toBe("0");

    // 300 MB of output: counted, cut to its head and tail, never sent whole anywhere.
    expect(row("flood")).toMatchObject({ outcome: "exit_zero", exit_code: 0 });
    expect(row("flood").output!.length).toBeLessThan(70_000);
    expect(row("flood").output).toMatch(new RegExp(`\\[output cut: \\d+ of ${FLOOD_BYTES + 9} bytes left out between the first 32768 and the last 32768\\]`));
    expect(row("flood").output!.trimEnd().endsWith("THE-END")).toBe(true);

    // The agent read every result: exit codes, the time limit, the cut, with the output fenced.
    const asked = model.requests.filter((r) => r.raw.includes("ATTACK-SESSION"));
    expect(asked).toHaveLength(MODES.length + 1);
    const resultOf = (mode: Mode) => asked[MODES.indexOf(mode) + 1]!.raw;
    expect(resultOf("net-postgres")).toContain("exit code 1");
    expect(resultOf("dns")).toContain("exit code 2");
    expect(resultOf("secrets")).toMatch(keyRefused);
    expect(resultOf("escape")).toContain("Read-only file system");
    expect(resultOf("fork-bomb")).toMatch(/killed at the time limit after \d+\.\d s/);
    expect(resultOf("flood")).toContain(`${FLOOD_BYTES + 9} bytes of output`);
    // The tool's own limit (24,000 characters) keeps both ends of the kept head and tail, and says so.
    expect(resultOf("flood")).toMatch(/\[truncated: \d+ of \d+ characters left out here\]/);
    expect(resultOf("flood")).toMatch(/THE-END\\n\\n<\/untrusted-data>/);
    expect(resultOf("ignore-term")).toMatch(/killed at the time limit after \d+\.\d s/);
    // Whole conversations, flood included, stay small.
    expect(Math.max(...asked.map((r) => r.raw.length))).toBeLessThan(400_000);

    // The reply lists every command with its outcome; the page too.
    const outcomes: Record<Mode, string> = {
      "net-postgres": "exit 1",
      "net-forge": "exit 1",
      dns: "exit 2",
      secrets: "exit 0",
      escape: "exit 0",
      "fork-bomb": "killed at the time limit",
      flood: "exit 0",
      "ignore-term": "killed at the time limit",
    };
    for (const mode of MODES) expect(attackReply.body).toContain(`- \`sh test.sh ${mode}\` → ${outcomes[mode]}`);
    const link = /\(http:\/\/forgebot\.test(\/sessions\/\d+\?sig=[\w-]+)\)/.exec(attackReply.body)![1]!;
    const page = await (await fetch(`${bot.baseUrl}${link}`)).text();
    for (const mode of MODES) expect(page).toContain(`<code>sh test.sh ${mode}</code> <span class="command-status">${outcomes[mode]}</span>`);
    const api = await (await fetch(`${bot.baseUrl}/api${link}`)).text();
    const patch = await (await fetch(`${bot.baseUrl}${link.replace("?", "/patch?")}`)).text();
    // The exfiltration attempt became a file of the patch, holding only what the sandbox showed.
    expect(patch).toContain("+++ b/leaked.txt");
    expect(patch).toContain("+PATH=/usr/local/sbin");

    // Not a line of the key, nor the worker's secret, anywhere: outputs, notes, model calls, page, JSON, patch, database.
    const stored = await database.db.query<{ text: string }>(
      `SELECT t::text AS text FROM session_commands t UNION ALL SELECT t::text FROM checkpoints t UNION ALL SELECT t::text FROM session_events t
       UNION ALL SELECT t::text FROM sessions t UNION ALL SELECT t::text FROM session_patches t`,
    );
    const { rows: files } = await database.db.query<{ content: Buffer }>("SELECT content FROM session_patch_files");
    const everywhere = [
      ...github.comments.map((c) => c.body),
      ...model.requests.map((r) => r.raw),
      page,
      api,
      patch,
      ...stored.rows.map((r) => r.text),
      ...files.map((f) => f.content.toString("utf8")),
    ].join("\n");
    expect(everywhere).toContain("sh test.sh secrets");
    for (const line of KEY_LINES) expect(everywhere).not.toContain(line);
    expect(everywhere).not.toContain(CANARY);

    // Nothing of any ended session left on disk: only a change waiting for `@forgebot apply`
    // keeps its workspace (to publish from it).
    const { rows: waiting } = await database.db.query<{ id: number }>("SELECT id FROM sessions WHERE status = 'plan_approval_required' ORDER BY id");
    expect(waiting.map((w) => w.id)).toContain(attackId);
    const kept = waiting.map((w) => String(w.id)).sort();
    await waitFor("the ended sessions' workspaces to be removed", () => JSON.stringify(readdirSync(root.dir).sort()) === JSON.stringify(kept), 10_000);

    // On time. A session queued behind the attack, or on a worker the attack starves, waits at
    // least one heavy command (TIMEOUT_MS). The bound — three times the slowest session of the
    // three waves run alone, plus a second of slack for this shared two-core machine — stays
    // below that, so either shows; it says nothing of absolute speed.
    const worstBaseline = Math.max(...baseline.flat().map((t) => t.ms));
    const bound = worstBaseline * 3 + 1000;
    const figures = {
      timeoutMs: TIMEOUT_MS,
      attackSessionMs: attackMs,
      commands: Object.fromEntries(MODES.map((m) => [m, { outcome: row(m).outcome, exitCode: row(m).exit_code, ms: row(m).duration_ms }])),
      baselineMs: baseline.map((w) => w.map((t) => ({ kind: t.kind, ms: t.ms }))),
      underAttackMs: underAttack.map((w) => ({ during: w.mode, sessions: w.timed.map((t) => ({ kind: t.kind, ms: t.ms })) })),
      worstBaselineMs: worstBaseline,
      boundMs: bound,
    };
    writeFigures("sandbox-attack", figures);
    expect(bound).toBeLessThan(TIMEOUT_MS);
    for (const w of underAttack) {
      // The wave started while the attack's command ran, so it overlapped it.
      const r = row(w.mode);
      expect(w.launched).toBeLessThan(r.finished_at!.getTime());
      const slowest = Math.max(...w.timed.map((t) => t.ms));
      expect({ during: w.mode, slowest, bound, onTime: slowest <= bound }).toMatchObject({ onTime: true });
    }
  }, 120_000);
});
