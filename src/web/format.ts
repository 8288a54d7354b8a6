import type { SessionUsage } from "../sessions/session.js";
import type { SessionStatus } from "../sessions/state-machine.js";

/** Small text formatters shared by the page, the stream and the list. */

export function humanize(word: string): string {
  const text = word.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Created and running sessions are in motion; waiting and ended ones are still. */
export function isMoving(status: SessionStatus): boolean {
  return status === "created" || status === "running";
}

function field(record: Record<string, unknown> | null, ...keys: string[]): string | null {
  for (const key of keys) {
    const value = record?.[key];
    if (typeof value === "string" && value.trim() !== "") return value;
  }
  return null;
}

/** "provider / model" from model metadata of any reasonable shape; null when none is named. */
export function modelLabel(model: Record<string, unknown> | null): { provider: string | null; model: string | null } | null {
  const provider = field(model, "provider", "providerName", "providerId");
  const name = field(model, "model", "modelId", "name", "id");
  return provider || name ? { provider, model: name } : null;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** "1,234 in / 567 out tokens (1,000 cached)"; null when nothing was counted. */
export function tokensLabel(usage: SessionUsage | Record<string, unknown> | null | undefined): string | null {
  if (!usage) return null;
  const num = (key: string) => {
    const value = (usage as Record<string, unknown>)[key];
    return typeof value === "number" && Number.isFinite(value) ? value : undefined;
  };
  const input = num("inputTokens");
  const output = num("outputTokens");
  const cached = num("cachedInputTokens");
  if (input === undefined && output === undefined) return null;
  const cachedText = cached ? ` (${count(cached)} cached)` : "";
  return `${count(input ?? 0)} in / ${count(output ?? 0)} out tokens${cachedText}`;
}

export function costLabel(usage: SessionUsage): string | null {
  return typeof usage.costUsd === "number" ? `$${usage.costUsd.toFixed(4)}` : null;
}

export function durationLabel(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return null;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "2025-01-31 14:05:09 UTC": the same for every reader, no client-side clock needed. */
export function timeLabel(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
