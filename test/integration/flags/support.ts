import { fileURLToPath } from "node:url";
import type { Logger } from "../../../src/sessions/ports.js";

/** Test flags rollout_a, rollout_b (default off) and default_on, and groups staff / beta_testers. */
export const FIXTURE_DEFINITIONS = fileURLToPath(new URL("../../fixtures/feature_flags/definitions", import.meta.url));
export const FIXTURE_GROUPS = fileURLToPath(new URL("../../fixtures/feature_flags/groups.yml", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export type LogEntry = { level: "info" | "warn" | "error" | "debug"; meta: object; message: string };

/** A Logger that records every entry, so tests can assert on warnings. */
export function recordingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const make = (bindings: object): Logger => ({
    info: (meta, message) => entries.push({ level: "info", meta: { ...bindings, ...meta }, message }),
    warn: (meta, message) => entries.push({ level: "warn", meta: { ...bindings, ...meta }, message }),
    error: (meta, message) => entries.push({ level: "error", meta: { ...bindings, ...meta }, message }),
    debug: (meta, message) => entries.push({ level: "debug", meta: { ...bindings, ...meta }, message }),
    child: (more) => make({ ...bindings, ...more }),
  });
  return Object.assign(make({}), { entries });
}

/** The 10 000 actors the percentage tests use. */
export const ACTORS = Array.from({ length: 10_000 }, (_, i) => `github:user${i}`);
