import { describe, expect, it } from "@jest/globals";
import { sessionUrl, signSessionId, verifySessionSignature } from "../../../src/sessions/links.js";
import { errorText, replyNote, startedNote } from "../../../src/sessions/notes.js";

describe("note texts", () => {
  it("started note carries the sentence, the link and the marker", () => {
    expect(startedNote(7, "https://bot/sessions/7?sig=x")).toBe(
      "Started session 7 and will let you know when it's finished.\n\n[View session](https://bot/sessions/7?sig=x)\n\n<!-- forgebot:started session=7 -->",
    );
  });

  it("reply holds result, link and marker; a blank result leaves the link alone", () => {
    expect(replyNote({ sessionId: 3, url: "u", result: "Done." })).toBe("Done.\n\n[View session](u)\n\n<!-- forgebot:reply session=3 -->");
    expect(replyNote({ sessionId: 3, url: "u", result: " \n " })).toBe("[View session](u)\n\n<!-- forgebot:reply session=3 -->");
    expect(replyNote({ sessionId: 3, url: "u", result: null, run: 2 })).toContain("<!-- forgebot:reply session=3 run=2 -->");
  });

  it("error texts are fixed per reason", () => {
    expect(errorText("no_model")).toContain("no model provider is configured");
    expect(errorText("stopped")).toBe("This session was stopped.");
  });
});

describe("signed session links", () => {
  it("verifies its own signature and rejects others", () => {
    const sig = signSessionId("secret", 42);
    expect(verifySessionSignature("secret", 42, sig)).toBe(true);
    expect(verifySessionSignature("secret", 43, sig)).toBe(false);
    expect(verifySessionSignature("other", 42, sig)).toBe(false);
    expect(verifySessionSignature("secret", 42, undefined)).toBe(false);
    expect(verifySessionSignature("secret", 42, sig.slice(1))).toBe(false);
    expect(sessionUrl("https://bot.example", "secret", 42)).toBe(`https://bot.example/sessions/42?sig=${sig}`);
  });
});
