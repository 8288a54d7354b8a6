import { describe, expect, it } from "@jest/globals";
import { safeReturnTo } from "../../../src/web/return-to.js";

const PUBLIC_URL = "https://forgebot.example.com";

describe("safeReturnTo", () => {
  const kept: [string, string][] = [
    ["/sessions/12?sig=abc", "/sessions/12?sig=abc"],
    ["/", "/"],
    ["/sessions", "/sessions"],
    ["/a/../sessions/1", "/sessions/1"],
    ["/sessions/1?sig=a&b=c#frag", "/sessions/1?sig=a&b=c"],
    ["/%2F%2Fevil.example", "/%2F%2Fevil.example"],
  ];
  it.each(kept)("keeps the path %s", (raw, expected) => {
    expect(safeReturnTo(raw, PUBLIC_URL)).toBe(expected);
  });

  const refused: [string, string | null | undefined][] = [
    ["another host", "https://evil.example/sessions/1"],
    ["this host, as a URL", "https://forgebot.example.com/sessions/1"],
    ["protocol-relative", "//evil.example/x"],
    ["a backslash after the slash", "/\\evil.example"],
    ["backslashes only", "\\\\evil.example"],
    ["a backslash further in", "/sessions\\..\\x"],
    ["a carriage return", "/sessions\r\nSet-Cookie: a=b"],
    ["a tab", "/\t/evil.example"],
    ["a NUL", "/sessions\u0000"],
    ["DEL", "/sessions\u007f"],
    ["a dot segment before //", "/.//evil.example"],
    ["a double-dot segment before //", "/..//evil.example"],
    ["an encoded dot segment before //", "/%2e//evil.example"],
    ["encoded double dots before //, with a query", "/%2E%2E//evil.example/x?y=1"],
    ["a path climbing back to //", "/sessions/1/../..//evil.example"],
    ["a scheme", "javascript:alert(1)"],
    ["a relative path", "sessions/1"],
    ["empty", ""],
    ["null", null],
    ["undefined", undefined],
    ["too long", `/${"a".repeat(3000)}`],
  ];
  it.each(refused)("refuses %s", (_what, raw) => {
    expect(safeReturnTo(raw, PUBLIC_URL)).toBeNull();
  });
});
