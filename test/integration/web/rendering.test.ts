import { describe, expect, it } from "@jest/globals";
import { stepHeading, stepParts } from "../../../src/web/checkpoint-delta.js";
import { renderMarkdown } from "../../../src/web/markdown.js";

/** Pure checks of the page's two renderers: the Markdown sanitizer and the checkpoint delta reader. */

describe("renderMarkdown", () => {
  const inert: [string, string, RegExp][] = [
    ["script element", "hi <script>alert(1)</script>", /<script|alert/],
    ["script in code fence stays text", "```html\n<script>alert(1)</script>\n```", /<script/],
    ["img onerror", '<img src="https://x.test/a.png" onerror="alert(1)">', /onerror/],
    ["svg onload", "<svg onload=alert(1)><circle /></svg>", /<svg|onload/],
    ["javascript: markdown link", "[x](javascript:alert(1))", /javascript:/i],
    ["javascript: html link", '<a href="javascript:alert(1)">x</a>', /javascript:/i],
    ["entity-encoded javascript: link", '<a href="&#106;avascript:alert(1)">x</a>', /avascript/i],
    ["data: html link", '<a href="data:text/html,<script>alert(1)</script>">x</a>', /data:/],
    ["iframe", '<iframe src="https://evil.example"></iframe>', /<iframe/],
    ["style attribute", '<p style="background:url(javascript:alert(1))">x</p>', /style=/],
    ["form", '<form action="https://evil.example"><button>go</button></form>', /<form|<button/],
    ["relative image", "![a](/sessions/1/retry)", /<img/],
  ];
  it.each(inert)("%s renders inert", (_what, markdown, forbidden) => {
    expect(renderMarkdown(markdown)).not.toMatch(forbidden);
  });

  it("keeps ordinary Markdown", () => {
    const html = renderMarkdown("# Title\n\n**bold** `code` [link](https://example.com) ![img](https://example.com/a.png)\n\n| a |\n|---|\n| 1 |");
    expect(html).toContain("<h1>Title</h1>");
    expect(html).toContain("<strong>bold</strong> <code>code</code>");
    expect(html).toContain('<a href="https://example.com" rel="nofollow noopener noreferrer">link</a>');
    expect(html).toContain('<img src="https://example.com/a.png" alt="img" />');
    expect(html).toContain("<td>1</td>");
  });
});

describe("stepParts", () => {
  it("pairs AI SDK tool calls with their results and renders assistant text as Markdown", () => {
    const parts = stepParts({
      kind: "step",
      run: 2,
      finishReason: "tool-calls",
      messages: [
        { role: "assistant", content: [{ type: "reasoning", text: "thinking" }, { type: "text", text: "**ok**" }, { type: "tool-call", toolCallId: "c1", toolName: "read_file", input: { path: "a" } }] },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", toolName: "read_file", output: { type: "error-text", value: "not found" } }] },
      ],
    });
    expect(parts).toEqual([
      { type: "message", label: "Reasoning", text: "thinking" },
      { type: "text", html: "<p><strong>ok</strong></p>\n" },
      { type: "tool", id: "c1", name: "read_file", input: '{\n  "path": "a"\n}', output: "not found", isError: true },
    ]);
    expect(stepHeading({ kind: "step", run: 2, finishReason: "tool-calls" })).toEqual({ title: "Model step", detail: "run 2 · finish: tool-calls" });
  });

  it.each([
    ["top-level toolCalls/toolResults", { toolCalls: [{ toolCallId: "t", toolName: "ls", args: { d: "." } }], toolResults: [{ toolCallId: "t", result: ["a"] }] }, [{ type: "tool", name: "ls", output: '[\n  "a"\n]' }]],
    ["a user message as folded text", { messages: [{ role: "user", content: "<b>hi</b>" }] }, [{ type: "message", label: "user message", text: "<b>hi</b>" }]],
    ["an unknown shape as JSON", { something: { deep: 1 } }, [{ type: "data", label: "step data" }]],
    ["a bare string", "just text", [{ type: "data", label: "step", json: "just text" }]],
    ["an interrupted step", { kind: "interrupted", run: 1, reason: "stopped" }, []],
  ])("reads %s", (_what, delta, expected) => {
    expect(stepParts(delta)).toEqual(expected.map((e) => expect.objectContaining(e)));
  });
});
