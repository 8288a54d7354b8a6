import { pino, type Logger } from "pino";
import { scrubSecrets } from "./scrub.js";

/** Paths redacted from every log line: tokens and keys never reach the logs. */
export const REDACT_PATHS = [
  "*.token",
  "*.privateKey",
  "*.private_key",
  "*.apiKey",
  "*.api_key",
  "*.secret",
  "*.password",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "headers['private-token']",
  "headers['x-gitlab-token']",
  "headers['x-hub-signature-256']",
  "err.request.headers.authorization",
  "err.response.request.headers.authorization",
  "err.cause.request.headers.authorization",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: "forgebot",
      level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      hooks: { streamWrite: scrubSecrets },
      base: { pid: process.pid },
    },
    destination,
  );
}

export type { Logger };
