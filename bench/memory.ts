import { startTestBot, testEnv, UNLIMITED_WRITES } from "../test/helpers/bot.js";
import { createTestDatabase, uniquePrefix } from "../test/helpers/db.js";
import { FakeGitHub } from "../test/helpers/fake-github.js";
import { FakeOpenAI } from "../test/helpers/fake-openai.js";
import { spawnForgebot, stopProcess } from "../test/helpers/processes.js";
import { mentionDelivery, ratio, rssMb, type BenchResult } from "./support.js";

const SESSIONS = 50;

/** RSS of a `forgebot worker` process: idle, then with 50 agent sessions waiting on the model. */
export async function benchMemory(): Promise<BenchResult> {
  const database = await createTestDatabase();
  const github = await new FakeGitHub().start();
  const model = await new FakeOpenAI().start();
  model.script = () => ({ kind: "hang" });
  const env = testEnv({ databaseUrl: database.url, env: { GHE_HOST: github.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: uniquePrefix(), OPENAI_BASE_URL: model.baseUrl, OPENAI_MODEL: "fake", OPENAI_API_KEY: "k", SESSION_CONCURRENCY: String(SESSIONS), LIFECYCLE_CONCURRENCY: "50", ...UNLIMITED_WRITES, JOB_LOCK_MS: "30000", JOB_STALLED_INTERVAL_MS: "30000" } });
  const web = await startTestBot({ databaseUrl: database.url, env, roles: { web: true, workers: false } });
  const worker = spawnForgebot(["worker"], env);
  try {
    await new Promise((r) => setTimeout(r, 8000));
    const idle = rssMb(worker.child.pid!);
    for (let i = 0; i < SESSIONS; i++) {
      const d = await mentionDelivery(i, `@forgebot look at this ${i}`, 1 + i, "mem");
      await fetch(`${web.baseUrl}/api/github/webhooks`, { method: "POST", ...d }).then((r) => r.arrayBuffer());
    }
    const deadline = Date.now() + 60_000;
    while (model.inFlight < SESSIONS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    const busy = rssMb(worker.child.pid!);
    const lines = [
      `idle worker (baseline): ${idle.toFixed(1)} MB RSS`,
      `worker with ${model.inFlight} concurrent sessions (model calls in flight): ${busy.toFixed(1)} MB RSS (${ratio(busy, idle)}, +${((busy - idle) / Math.max(1, model.inFlight)).toFixed(2)} MB per session)`,
    ];
    const missed = busy > 150 ? [`worker RSS ${busy.toFixed(1)} MB > 150 MB: the process runs TypeScript through tsx and loads Probot, BullMQ, the AI SDK and pg; most of it is the idle baseline`] : [];
    return { title: `Worker memory with ${SESSIONS} concurrent sessions`, lines, missed };
  } finally {
    await stopProcess(worker, "SIGKILL");
    await web.stop();
    await model.stop();
    await github.stop();
    await database.drop();
  }
}
