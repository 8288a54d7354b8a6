import { describe, expect, it } from "@jest/globals";
import { createSealer, SealError } from "../../../src/storage/sealing.js";

describe("sealing secrets at rest", () => {
  const sealer = createSealer("link-secret-one", "forge-credentials");

  it("opens what it sealed, and the sealed bytes hold nothing of the plain text", () => {
    const plain = JSON.stringify({ privateKey: "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", webhookSecret: "hook-secret-value" });
    const sealed = sealer.seal(plain, "forge_credentials:github");
    expect(sealer.open(sealed, "forge_credentials:github")).toBe(plain);
    expect(sealed.toString("latin1")).not.toContain("hook-secret-value");
    expect(sealed.toString("latin1")).not.toContain("PRIVATE KEY");
    // A fresh nonce each time: the same secret never seals to the same bytes.
    expect(sealer.seal(plain, "forge_credentials:github").equals(sealed)).toBe(false);
  });

  it.each([
    ["another link secret", (s: Buffer) => createSealer("link-secret-two", "forge-credentials").open(s, "forge_credentials:github")],
    ["another purpose of the same secret", (s: Buffer) => createSealer("link-secret-one", "something-else").open(s, "forge_credentials:github")],
    ["another row (context)", (s: Buffer) => sealer.open(s, "forge_credentials:gitlab")],
    ["a flipped byte", (s: Buffer) => sealer.open(Buffer.from(s.map((b, i) => (i === 20 ? b ^ 1 : b))), "forge_credentials:github")],
    ["a truncated value", (s: Buffer) => sealer.open(s.subarray(0, 20), "forge_credentials:github")],
    ["an unknown format", (s: Buffer) => sealer.open(Buffer.concat([Buffer.from([9]), s.subarray(1)]), "forge_credentials:github")],
  ])("refuses to open with %s", (_what, open) => {
    const sealed = sealer.seal("the secret", "forge_credentials:github");
    expect(() => open(sealed)).toThrow(SealError);
  });

  it("names its key by a fingerprint that differs between secrets and is not the secret", () => {
    expect(sealer.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(createSealer("link-secret-one", "forge-credentials").keyId).toBe(sealer.keyId);
    expect(createSealer("link-secret-two", "forge-credentials").keyId).not.toBe(sealer.keyId);
  });
});
