import { Lexer, type Token } from "marked";
import { requestFrom } from "../sessions/mention.js";

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

/**
 * Finds `@handle` as a whole word outside code and quotes of a comment's Markdown (GitHub's and
 * GitLab's flavours agree on those). Returns the request: the comment's visible text with the
 * mention removed, or null when the bot was not mentioned.
 */
export function parseMention(body: string, handle: string): string | null {
  return requestFrom(visibleText(new Lexer({ gfm: true }).lex(body)), handle);
}
