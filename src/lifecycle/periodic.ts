export type Periodic = { stop(): Promise<void> };

/**
 * Runs `pass` every `intervalMs`; the next pass is scheduled when the last one ends, so passes
 * never overlap. `pass` handles its own errors. `stop` cancels the timer and waits for a pass
 * in flight. The timer never keeps the process alive.
 */
export function runPeriodically(intervalMs: number, pass: () => Promise<void>): Periodic {
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = pass().finally(() => {
        inFlight = null;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
