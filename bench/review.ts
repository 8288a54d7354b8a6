import { startTestBot, UNLIMITED_WRITES } from "../test/helpers/bot.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { FakeGitHub, type FakeFile } from "../test/helpers/fake-github.js";
import { FakeOpenAI, type FakeReply, type ModelRequest } from "../test/helpers/fake-openai.js";
import { signedHeaders } from "../test/helpers/github-app.js";
import { githubExample } from "../test/helpers/payloads.js";
import { ms, ratio, type BenchResult } from "./support.js";

const FILES = 300;
const REPO = "Codertocat/Hello-World";
const PR = 4000;
const HEAD = "feedfacefeedfacefeedfacefeedfacefeedface";

/** A modified TypeScript file: two hunks, a changed pair of lines near the top and five lines added further down. */
function syntheticFile(i: number): { file: FakeFile; firstAdded: number } {
  const name = `src/module_${String(Math.floor(i / 10)).padStart(2, "0")}/file_${String(i).padStart(3, "0")}.ts`;
  const ctx = (n: number) => ` export const value_${i}_${n} = compute(${n}, "${name}");`;
  const patch = [
    "@@ -10,8 +10,9 @@ export function setup() {",
    ctx(10), ctx(11), ctx(12),
    `-  const limit = ${i};`,
    `-  return run(limit);`,
    `+  const limit = Math.max(${i}, config.minimum);`,
    `+  if (limit > config.maximum) throw new RangeError("limit ${i} is above the maximum");`,
    `+  return run(limit);`,
    ctx(13), ctx(14), ctx(15),
    "@@ -80,6 +81,11 @@ export function teardown() {",
    ctx(80), ctx(81), ctx(82),
    ...Array.from({ length: 5 }, (_, k) => `+  registry.release("${name}", ${k}); // added line ${k}`),
    ctx(83), ctx(84), ctx(85),
  ].join("\n");
  return { file: { filename: name, status: "modified", patch, changes: 7 }, firstAdded: 13 };
}

/** The characters a request hands the model: system prompt, messages and tool definitions (not JSON escaping). */
function contentChars(r: ModelRequest): number {
  const messages = (r.body.messages ?? []) as { content?: unknown }[];
  const text = messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : JSON.stringify(m.content ?? "").length), 0);
  return text + JSON.stringify(r.body.tools ?? []).length;
}

/**
 * A synthetic 300-file pull request reviewed end to end (webhook → started note → read the
 * files → groups of files to a local fake model → one review → reply) against the loopback
 * FakeGitHub: forgebot's own time per file, outside the model, and what it sends the model
 * compared with the size of the diff.
 */
export async function benchReview(): Promise<BenchResult> {
  const database = await createTestDatabase();
  const github = await new FakeGitHub().start();
  const synthetic = Array.from({ length: FILES }, (_, i) => syntheticFile(i));
  const firstAdded = new Map(synthetic.map((s) => [s.file.filename, s.firstAdded]));
  let modelMs = 0;
  const model = await new FakeOpenAI().start();
  // One finding for every fifth file of a group, on its first added line, with a suggestion.
  model.script = (r): FakeReply => {
    const t0 = performance.now();
    const last = ((r.body.messages ?? []) as { role: string; content: unknown }[]).filter((m) => m.role === "user").at(-1);
    const paths = [...String(last?.content ?? "").matchAll(/^### (\S+)/gm)].map((m) => m[1]!);
    const findings = paths.filter((_, k) => k % 5 === 0).map((path) => ({ path, side: "new", start_line: firstAdded.get(path), end_line: firstAdded.get(path), severity: "medium", body: "Clamp before comparing.", replacement: ["  const limit = Math.min(Math.max(1, config.minimum), config.maximum);"] }));
    modelMs += performance.now() - t0;
    return { kind: "tools", calls: [{ name: "submit_review", input: { findings } }] };
  };
  const bot = await startTestBot({
    databaseUrl: database.url,
    env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", ...UNLIMITED_WRITES, OPENAI_BASE_URL: model.baseUrl, OPENAI_MODEL: "fake-model", OPENAI_API_KEY: "k", AGENT_MODEL_RETRIES: "0" },
  });
  try {
    github.threads.set(`${REPO}#${PR}`, { title: "Clamp limits", body: "", author: "octo", headSha: HEAD, baseSha: "base", files: synthetic.map((s) => s.file) });
    const diffChars = synthetic.reduce((n, s) => n + (s.file.patch?.length ?? 0), 0);
    const payload = githubExample("issue_comment", "created", (p) => {
      p.issue.number = PR;
      p.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${PR}` };
      p.comment.body = "@forgebot review";
    });
    const body = JSON.stringify(payload);
    const t0 = performance.now();
    await fetch(`${bot.baseUrl}/api/github/webhooks`, { method: "POST", headers: await signedHeaders("issue_comment", "bench-review", body), body }).then((r) => r.arrayBuffer());
    const deadline = Date.now() + 300_000;
    while (!github.live({ number: PR }).some((c) => c.body.includes("forgebot:reply")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const total = performance.now() - t0;

    const review = github.reviews[0];
    const { rows: sessions } = await database.db.query<{ id: number; status: string }>("SELECT id, status FROM sessions");
    const session = sessions[0];
    if (!review || session?.status !== "finished") throw new Error(`the review bench did not finish: ${JSON.stringify(sessions)}`);
    const { rows: times } = await database.db.query<{ what: string; at: Date }>(
      `SELECT 'running' AS what, min(created_at) AS at FROM session_events WHERE session_id = $1 AND kind = 'status' AND data->>'to' = 'running'
       UNION ALL SELECT 'first_checkpoint', min(created_at) FROM checkpoints WHERE session_id = $1
       UNION ALL SELECT 'last_checkpoint', max(created_at) FROM checkpoints WHERE session_id = $1
       UNION ALL SELECT 'posted', min(created_at) FROM session_events WHERE session_id = $1 AND kind = 'review_posted'`,
      [session.id],
    );
    const at = (what: string) => times.find((t) => t.what === what)!.at.getTime();
    const sent = model.requests.reduce((n, r) => n + contentChars(r), 0);
    const raw = model.requests.reduce((n, r) => n + r.raw.length, 0);
    const outside = total - modelMs;
    const perFile = outside / FILES;
    const lines = [
      `${FILES} files, diff ${(diffChars / 1024).toFixed(0)} KiB (≈${Math.round(diffChars / 4).toLocaleString("en")} tokens at 4 characters a token): ${model.requests.length} model requests (one group each), ${review.comments.length} inline comments posted in one review`,
      `end to end ${ms(total)}; the fake model's own time ${ms(modelMs)}; forgebot outside the model ${ms(outside)} = ${ms(perFile)} per file`,
      `phases: read ${FILES} files and plan ${ms(at("first_checkpoint") - at("running"))}; groups through the model (requests, checkpoints) ${ms(at("last_checkpoint") - at("first_checkpoint"))}; anchor and post the review ${ms(at("posted") - at("last_checkpoint"))}; the rest (webhook, started note, queue, reply) ${ms(total - (at("posted") - at("running")))}`,
      `sent to the model: ${(sent / 1024).toFixed(0)} KiB of prompt, diff and tool schema (${ratio(sent, diffChars)} the diff; ${(raw / 1024).toFixed(0)} KiB as JSON on the wire); the rest is line numbers, file headings, the fenced untrusted-data markers and each group's repeated instructions`,
    ];
    const missed: string[] = [];
    if (sent / diffChars > 1.5) missed.push(`sent ${ratio(sent, diffChars)} the diff's size > 1.5×`);
    if (perFile > 10) missed.push(`${ms(perFile)} per file outside the model > 10 ms`);
    return { title: `Review of a synthetic ${FILES}-file pull request against a local fake model`, lines, missed };
  } finally {
    await bot.stop();
    await model.stop();
    await github.stop();
    await database.drop();
  }
}
