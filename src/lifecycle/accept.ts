import type { AcceptEvent, AcceptOutcome, MentionEvent, NormalizeResult } from "../sessions/forge-port.js";
import type { DeliveryStore, ForgeProvider, JobQueue, NewDelivery } from "../sessions/ports.js";

export type AcceptDeps = { deliveries: DeliveryStore; queue: JobQueue; forges: Pick<ForgeProvider, "requestIn"> };

/** Most deliveries one group commit writes. */
const MAX_BATCH = 100;
/** Group commits written at once: a batch waits only while this many are on their way. */
const MAX_IN_FLIGHT = 3;

type Waiting = { delivery: NewDelivery; resolve(outcome: AcceptOutcome): void; reject(err: unknown): void };

/**
 * The webhook's whole job after verification: filter, record the delivery, enqueue — no forge
 * API call. Deliveries that arrive while writes are in flight are group-committed: one INSERT
 * of all their rows and one bulk add of their jobs, so a busy ingest costs two round trips a
 * batch instead of two a delivery, and an idle one waits for nothing. Each request is answered only
 * once its row is stored and its job queued. A repeat of a delivery whose job may not have been
 * queued is queued again (the job id dedupes), so a failed enqueue is healed by the forge's
 * redelivery.
 */
export function createAcceptor(deps: AcceptDeps): AcceptEvent {
  let pending: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;

  async function flush(batch: Waiting[]): Promise<void> {
    try {
      const recorded = await deps.deliveries.recordDeliveries(batch.map((w) => w.delivery));
      await deps.queue.enqueueMentions(recorded.filter((r) => r.status === "received").map((r) => r.id));
      batch.forEach((w, i) => w.resolve(recorded[i]!.created ? "accepted" : "duplicate"));
    } catch (err: unknown) {
      for (const w of batch) w.reject(err);
    }
  }

  /** Starts batches while fewer than MAX_IN_FLIGHT are being written; each takes what waits. */
  function pump(): void {
    scheduled = false;
    while (pending.length > 0 && inFlight < MAX_IN_FLIGHT) {
      const batch = pending.slice(0, MAX_BATCH);
      pending = pending.slice(MAX_BATCH);
      inFlight += 1;
      void flush(batch).finally(() => {
        inFlight -= 1;
        schedule();
      });
    }
  }

  function schedule(): void {
    if (scheduled || pending.length === 0 || inFlight >= MAX_IN_FLIGHT) return;
    scheduled = true;
    // The rest of this tick's deliveries join the batch.
    setImmediate(pump);
  }

  return (result: NormalizeResult) => {
    const delivery = toDelivery(deps, result);
    if (typeof delivery === "string") return Promise.resolve(delivery);
    return new Promise<AcceptOutcome>((resolve, reject) => {
      pending.push({ delivery, resolve, reject });
      schedule();
    });
  };
}

/** The row a normalized event becomes, or why it is ignored. */
function toDelivery(deps: AcceptDeps, result: NormalizeResult): NewDelivery | AcceptOutcome {
  if (result.kind === "ignored") return result.reason;
  const event: MentionEvent = result.event;
  if (deps.forges.requestIn(event.forge, event.body) === null) return "no_mention";
  return { forge: event.forge, deliveryKey: event.deliveryKey, eventName: event.eventName, mention: event };
}
