import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Cuts `text` to at most `max` characters and says so, in the one format every reader of cut
 * text sees (the model, the page, a reply): `[truncated: showing the first N of M characters]`.
 * Never splits a surrogate pair, so the cut text stays valid UTF-16.
 */
export function truncate(text: string, max: number, what = "characters"): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}\n\n[truncated: showing the first ${cut.length} of ${text.length} ${what}]`;
}

/**
 * Like `truncate`, but keeps the first and the last half: a command's summary (test results,
 * the error that ended it) is at its end. `[truncated: N of M characters left out here]`.
 */
export function truncateMiddle(text: string, max: number, what = "characters"): string {
  if (text.length <= max) return text;
  let head = text.slice(0, Math.ceil(max / 2));
  let tail = text.slice(text.length - Math.floor(max / 2));
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  if (/^[\uDC00-\uDFFF]/.test(tail)) tail = tail.slice(1);
  return `${head}\n\n[truncated: ${text.length - head.length - tail.length} of ${text.length} ${what} left out here]\n\n${tail}`;
}

/**
 * Compares a secret someone sent with the one we hold in constant time, whatever their lengths:
 * both are hashed to the same size first. Never `===` on secrets.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** A commit as people quote it: its first seven characters. */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** "1 file", "3 files"; `many` for an irregular plural. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `text` as inline code; a backtick inside becomes an apostrophe, so it cannot end the span. */
export function inlineCode(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

/** A fence of backticks longer than any backtick run in `text` (at least three), so the text cannot close it. */
export function codeFence(text: string): string {
  const longest = Math.max(2, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  return "`".repeat(longest + 1);
}
