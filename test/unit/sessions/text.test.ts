import { describe, expect, it } from "@jest/globals";
import { truncate, truncateMiddle } from "../../../src/sessions/text.js";

describe("cut text", () => {
  it("truncate keeps the start and says how much there was", () => {
    expect(truncate("abcdef", 10)).toBe("abcdef");
    expect(truncate("abcdefghij", 4)).toBe("abcd\n\n[truncated: showing the first 4 of 10 characters]");
  });

  it("truncateMiddle keeps both ends, so a command's closing summary reaches the reader", () => {
    const output = `${"x".repeat(50_000)}\nTests: 3 failed, 97 passed\n`;
    const cut = truncateMiddle(output, 1000);
    expect(cut.startsWith("x".repeat(500))).toBe(true);
    expect(cut.endsWith("Tests: 3 failed, 97 passed\n")).toBe(true);
    expect(cut).toContain(`[truncated: ${output.length - 1000} of ${output.length} characters left out here]`);
    expect(truncateMiddle("short", 10)).toBe("short");
  });

  it("truncateMiddle never splits a surrogate pair", () => {
    const text = "😀".repeat(100);
    const cut = truncateMiddle(text, 11);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
