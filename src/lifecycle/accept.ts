import type { AcceptOutcome, ForgeName, NormalizeResult } from "../sessions/forge-port.js";
import { parseMention } from "../sessions/mention.js";
import type { DeliveryStore, JobQueue } from "../sessions/ports.js";

export type AcceptDeps = { deliveries: DeliveryStore; queue: JobQueue; handleFor(forge: ForgeName): string };

/**
 * The webhook's whole job after verification: filter, record the delivery, enqueue — no forge
 * API call. A repeat of a delivery whose job may not have been queued is queued again (the job
 * id dedupes), so a failed enqueue is healed by the forge's redelivery.
 */
export async function acceptEvent(deps: AcceptDeps, result: NormalizeResult): Promise<AcceptOutcome> {
  if (result.kind === "ignored") return result.reason;
  const { event } = result;
  if (parseMention(event.body, deps.handleFor(event.forge)) === null) return "no_mention";
  const delivery = await deps.deliveries.recordDelivery({
    forge: event.forge,
    deliveryKey: event.deliveryKey,
    eventName: event.eventName,
    mention: event,
  });
  if (delivery.status === "received") await deps.queue.enqueueMention(delivery.id);
  return delivery.created ? "accepted" : "duplicate";
}
