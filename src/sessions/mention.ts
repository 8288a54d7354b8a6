function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function mentionPattern(handle: string, flags: string): RegExp {
  // A whole word: not inside an e-mail address or a longer handle (`@forgebot-dev`).
  return new RegExp(`(?<![\\w@./-])@${escapeRegExp(handle)}(?![\\w-])`, flags);
}

/**
 * Finds `@handle` as a whole word in `text`, what a human wrote outside code, quotes and HTML
 * (the forge's Markdown is read in forges/mention.ts). Returns the request: that text with the
 * mention removed, or null when the bot was not mentioned.
 */
export function requestFrom(text: string, handle: string): string | null {
  if (!mentionPattern(handle, "i").test(text)) return null;
  return text
    .replace(mentionPattern(handle, "gi"), " ")
    .split("\n")
    .map((line) =>
      line
        .replace(/[ \t]+/g, " ")
        .replace(/ ([,;:!?])/g, "$1")
        .trim()
        .replace(/^[,;:]\s*/, ""),
    )
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
