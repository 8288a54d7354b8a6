import type { IncomingMessage, ServerResponse } from "node:http";
import { webhooksReceived } from "../metrics/index.js";
import type { AcceptEvent, ForgeName, NormalizeResult } from "../sessions/forge-port.js";
import type { Logger } from "../sessions/logger.js";
import { BodyTooLargeError, isJsonContentType, parseJson, readBody, sendJson } from "../web/http.js";

/** A request the pipeline answers before accepting anything: status, metric outcome, message. */
export type WebhookRefusal = { status: number; outcome: string; error: string };

/**
 * What differs between forges' webhooks, and nothing else. GitHub signs the body (checked in
 * `verifyBody`, on the raw bytes, before any parsing); GitLab sends a shared token in a header
 * (checked in `checkHeaders`, before the body is even read).
 */
export type WebhookSource = {
  readonly forge: ForgeName;
  /** A bounded event label for metrics (`issue_comment`, `note`, … or `other`). */
  eventLabel(req: IncomingMessage): string;
  /**
   * Header checks before the body is read: a refusal, `{ ignore }` to answer 200 without
   * reading the body (an event we never act on), or null to go on.
   */
  checkHeaders(req: IncomingMessage): WebhookRefusal | { ignore: string } | null;
  /** True when the raw body is authentic (a signature over it); false answers 401. */
  verifyBody(req: IncomingMessage, raw: string): Promise<boolean>;
  /** The payload, parsed from JSON, as a mention candidate. */
  normalize(req: IncomingMessage, payload: unknown): NormalizeResult;
  /** The id logs carry for this delivery. */
  deliveryId(req: IncomingMessage, result: NormalizeResult): string | undefined;
};

export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export type WebhookOptions = { accept: AcceptEvent; maxBodyBytes: number; log: Logger };

/**
 * The one webhook pipeline: verify → normalize → accept → answer. Headers, then the body
 * (413 past the limit), then its authenticity (401), its type (415) and its JSON (400); the
 * normalized event is accepted (recorded and enqueued) and answered 202 when accepted or a
 * duplicate, 200 when ignored. No forge API call happens here. A failure to accept (storage or
 * the queue away) is counted as an error and answered 500 by the server; the forge redelivers.
 */
export function createWebhookHandler(source: WebhookSource, options: WebhookOptions): WebhookHandler {
  const count = (event: string, outcome: string) => webhooksReceived.inc({ forge: source.forge, event, outcome });

  return async function handleWebhook(req, res) {
    const event = source.eventLabel(req);
    const refuse = ({ status, outcome, error }: WebhookRefusal) => {
      req.resume();
      count(event, outcome);
      sendJson(res, status, { error });
    };
    const early = source.checkHeaders(req);
    if (early && "ignore" in early) {
      req.resume();
      count(event, early.ignore);
      return sendJson(res, 200, { outcome: early.ignore });
    }
    if (early) return refuse(early);

    let raw: string;
    try {
      raw = (await readBody(req, options.maxBodyBytes)).toString("utf8");
    } catch (err: unknown) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      return refuse({ status: 413, outcome: "too_large", error: `body exceeds ${options.maxBodyBytes} bytes` });
    }
    if (!(await source.verifyBody(req, raw))) return refuse({ status: 401, outcome: "unauthorized", error: "signature does not match" });
    if (!isJsonContentType(req)) return refuse({ status: 415, outcome: "unsupported_media_type", error: "expects Content-Type: application/json" });
    const parsed = parseJson(raw);
    if (!parsed.ok) return refuse({ status: 400, outcome: "malformed", error: "body is not valid JSON" });

    const result = source.normalize(req, parsed.value);
    let outcome: string;
    try {
      outcome = await options.accept(result);
    } catch (err: unknown) {
      count(event, "error");
      throw err;
    }
    count(event, outcome);
    sendJson(res, outcome === "accepted" || outcome === "duplicate" ? 202 : 200, { outcome });
    options.log.debug({ deliveryId: source.deliveryId(req, result), forge: source.forge, event, outcome }, "webhook handled");
  };
}
