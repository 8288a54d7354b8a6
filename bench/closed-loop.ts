import http from "node:http";

/** One request of a load run: its body (already serialized) and headers. */
export type LoadRequest = { body: Buffer; headers: Record<string, string> };

export type LoadResult = { latencies: number[]; completed: number; errors: number; elapsedMs: number; statuses: Map<number, number> };

/**
 * Closed-loop load at saturation: `concurrency` keep-alive connections, each sending its next
 * request as soon as the last is answered, for `durationMs`. `request(seq)` builds request
 * number `seq` (numbered across every run that shares the counter the caller keeps).
 */
export async function closedLoop(url: string, options: { concurrency: number; durationMs: number; request: () => LoadRequest }): Promise<LoadResult> {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let errors = 0;

  function send(req: LoadRequest): Promise<number> {
    return new Promise((resolve, reject) => {
      const r = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent, headers: { ...req.headers, "content-length": String(req.body.length) } },
        (res) => {
          res.on("error", reject);
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.resume();
        },
      );
      r.on("error", reject);
      r.end(req.body);
    });
  }

  const t0 = performance.now();
  const end = t0 + options.durationMs;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < end) {
        const req = options.request();
        const started = performance.now();
        try {
          const status = await send(req);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status < 200 || status >= 300) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - started);
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  agent.destroy();
  return { latencies, completed: latencies.length, errors, elapsedMs, statuses };
}
