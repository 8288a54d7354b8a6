import { createCheckpointStore } from "../src/storage/checkpoint-store.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { ms, percentile, type BenchResult } from "./support.js";

/** Checkpoint append latency and bytes for 10, 100 and 1 000-step sessions vs the transcript size. */
export async function benchCheckpoints(): Promise<BenchResult> {
  const database = await createTestDatabase();
  const store = createCheckpointStore(database.db);
  const lines: string[] = [];
  const missed: string[] = [];
  const latencies: number[] = [];
  try {
    for (const steps of [10, 100, 1000]) {
      const { rows } = await database.db.query<{ id: number }>(
        `INSERT INTO sessions (forge, host, repo_id, repo_path, thread_kind, thread_number, actor_id, actor_login, command, prompt, flow, status, conversation_key, callback_context)
         VALUES ('github', 'github.com', '1', 'o/r', 'issue', 1, '1', 'u', 'chat', 'p', 'chat', 'running', $1, '{}') RETURNING id`, [`bench-${steps}`]);
      const sessionId = rows[0]!.id;
      const own: number[] = [];
      let transcript = 0;
      for (let seq = 1; seq <= steps; seq++) {
        const messages = [{ role: "assistant" as const, content: [{ type: "text" as const, text: `step ${seq} `.padEnd(400, "x") }] }];
        transcript += JSON.stringify(messages).length;
        const t0 = performance.now();
        await store.append({ sessionId, seq, parentSeq: seq === 1 ? null : seq - 1, delta: { kind: "step", run: 1, messages, finishReason: "tool-calls" }, model: null, usage: {} as never, session: { usage: {} as never } });
        own.push(performance.now() - t0);
      }
      latencies.push(...own);
      const size = await database.db.query<{ bytes: number }>("SELECT sum(pg_column_size(delta))::int AS bytes FROM checkpoints WHERE session_id = $1", [sessionId]);
      lines.push(`${steps} steps: append p50 ${ms(percentile(own, 50))}, p99 ${ms(percentile(own, 99))}; stored deltas ${size.rows[0]!.bytes} B (${(size.rows[0]!.bytes / steps).toFixed(0)} B/step) vs transcript ${transcript} B (${(transcript / steps).toFixed(0)} B/step)`);
    }
    if (percentile(latencies, 50) > 3) missed.push(`checkpoint append p50 ${ms(percentile(latencies, 50))} > 3 ms`);
    return { title: "Checkpoint writes (append in one transaction with the session heartbeat)", lines, missed };
  } finally {
    await database.drop();
  }
}
