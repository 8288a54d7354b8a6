/**
 * Row leases (sessions, change-request review locks): a token and a `lease_until` the holder
 * keeps pushing forward while it works, so a holder that died loses the lease within `ttlMs`.
 */

/** SQL for "`ttlMs` from now", with `ttlMs` the parameter at `$n`. */
export function leaseUntil(n: number): string {
  return `now() + make_interval(secs => $${n}::float8 / 1000)`;
}

/** Calls `renew` every third of `ttlMs` (never keeping the process alive) until the returned stop. */
export function keepRenewing(ttlMs: number, renew: () => Promise<void>): () => void {
  const timer = setInterval(() => void renew(), Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}
