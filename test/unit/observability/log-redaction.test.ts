import { Writable } from "node:stream";
import { describe, expect, it } from "@jest/globals";
import { createLogger } from "../../../src/logging/logger.js";
import { scrubSecrets } from "../../../src/logging/scrub.js";

/** Secrets in the shapes forgebot handles; every value must be absent from the output. */
const SECRETS = {
  githubToken: "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
  gitlabToken: "glpat-Xz9f8KLmnop12345qrst",
  openaiKey: "sk-proj-a1b2c3d4e5f6g7h8i9j0k1l2",
  webhookSecret: "whsec-plain-shared-value-1",
  linkSecret: "link-secret-0f9e8d7c6b5a",
  privateKey: "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----",
  password: "pg-password-77",
  signature: "sha256=8f2b1a9c0d3e4f5a6b7c8d9e0f1a2b3c",
};

function capture(): { lines: () => Record<string, unknown>[]; text: () => string; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { stream, text: () => chunks.join(""), lines: () => chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("log redaction", () => {
  it("keeps tokens and keys out of every line while ids and numbers stay", () => {
    const out = capture();
    const log = createLogger("debug", out.stream).child({ deliveryId: "d-42", forge: "github", repo: "octo/hello", sessionId: 7 });

    log.info({ token: SECRETS.githubToken, privateKey: SECRETS.privateKey, apiKey: SECRETS.openaiKey }, "top-level keys");
    log.info({ config: { github: { webhookSecret: SECRETS.webhookSecret, privateKey: SECRETS.privateKey }, sessionLinkSecret: SECRETS.linkSecret } }, "a logged config");
    log.info({ env: { GITLAB_TOKEN: SECRETS.gitlabToken, OPENAI_API_KEY: SECRETS.openaiKey, DATABASE_PASSWORD: SECRETS.password } }, "a logged environment");
    log.info({ req: { headers: { authorization: `token ${SECRETS.githubToken}`, "private-token": SECRETS.gitlabToken, "x-gitlab-token": SECRETS.webhookSecret, "x-hub-signature-256": SECRETS.signature } } }, "request headers");
    const err = Object.assign(new Error(`GitHub said no to Bearer ${SECRETS.openaiKey}`), {
      status: 401,
      request: { method: "GET", url: "https://api.github.com/app", headers: { authorization: `bearer ${SECRETS.githubToken}` } },
      cause: { response: { headers: { "set-cookie": "session=abcdef0123456789abcdef" } } },
    });
    log.error({ err }, "a forge error with its request");
    log.warn({ detail: `retrying with ${SECRETS.gitlabToken} after ${SECRETS.githubToken}` }, "tokens inside free text");
    log.info({ usage: { inputTokens: 1200, outputTokens: 345 }, maxTokens: 4096 }, "usage numbers");

    const text = out.text();
    for (const [name, value] of Object.entries(SECRETS)) {
      const probe = name === "privateKey" ? "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo" : value;
      expect({ name, leaked: text.includes(probe) }).toEqual({ name, leaked: false });
    }
    expect(text).not.toContain("abcdef0123456789abcdef");

    const lines = out.lines();
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(line).toMatchObject({ deliveryId: "d-42", forge: "github", repo: "octo/hello", sessionId: 7 });
    expect(lines[0]).toMatchObject({ token: "[redacted]", privateKey: "[redacted]", apiKey: "[redacted]", msg: "top-level keys" });
    expect((lines[4]!.err as { status: number; message: string }).status).toBe(401);
    expect((lines[4]!.err as { message: string }).message).toBe("GitHub said no to Bearer [redacted]");
    expect(lines[6]).toMatchObject({ usage: { inputTokens: 1200, outputTokens: 345 }, maxTokens: 4096 });
  });

  it.each([
    ['{"a":{"webhookSecret":"x\\"y"}}', '{"a":{"webhookSecret":"[redacted]"}}'],
    ['{"conversationKey":"github:h:1","triggerKey":"k"}', '{"conversationKey":"github:h:1","triggerKey":"k"}'],
    ['{"msg":"token abcdefghijklmnop1234"}', '{"msg":"token [redacted]"}'],
    ['{"inputTokens":12,"tokenCount":"3"}', '{"inputTokens":12,"tokenCount":"[redacted]"}'],
  ])("scrubSecrets(%s)", (line, expected) => {
    expect(scrubSecrets(line)).toBe(expected);
  });
});
