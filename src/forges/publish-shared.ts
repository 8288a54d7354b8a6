import { ForgeApiError } from "../sessions/forge-port.js";

/** What both forges' publishers share: the status of a failed request, and when content is text. */

/** The HTTP status of a forge request that failed, when it has one. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof ForgeApiError ? err.status : undefined;
}

/** Content both forges take as text: valid UTF-8 without NUL bytes (anything else goes as base64). */
export function isInlineText(content: Uint8Array): boolean {
  if (content.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(content);
    return true;
  } catch {
    return false;
  }
}
