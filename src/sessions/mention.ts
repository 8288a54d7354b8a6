import { Lexer, type Token } from "marked";

/** Text a human wrote outside code spans, code blocks, quotes and HTML. */
function visibleText(tokens: readonly Token[]): string {
  let out = "";
  for (const token of tokens) {
    if (token.type === "code" || token.type === "codespan" || token.type === "blockquote" || token.type === "html") {
      out += " ";
      continue;
    }
    const children = (token as { tokens?: Token[] }).tokens;
    const items = (token as { items?: { tokens: Token[] }[] }).items;
    if (children) out += visibleText(children);
    else if (items) out += items.map((item) => visibleText(item.tokens)).join("\n");
    else if (token.type === "text" || token.type === "escape") out += token.text;
    else if (token.type === "br" || token.type === "space") out += "\n";
    if (token.type === "paragraph" || token.type === "heading") out += "\n";
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function mentionPattern(handle: string, flags: string): RegExp {
  // A whole word: not inside an e-mail address or a longer handle (`@forgebot-dev`).
  return new RegExp(`(?<![\\w@./-])@${escapeRegExp(handle)}(?![\\w-])`, flags);
}

/**
 * Finds `@handle` as a whole word outside code and quotes. Returns the request: the comment's
 * visible text with the mention removed, or null when the bot was not mentioned.
 */
export function parseMention(body: string, handle: string): string | null {
  const text = visibleText(new Lexer({ gfm: true }).lex(body));
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
