import examples from "@octokit/webhooks-examples";

type Example = { name: string; examples: Record<string, unknown>[] };

/** A real example payload from @octokit/webhooks-examples, deep-copied, with an installation added. */
export function githubExample(event: string, action: string, patch: (payload: any) => void = () => undefined): Record<string, any> {
  const group = (examples as unknown as Example[]).find((e) => e.name === event);
  const found = group?.examples.find((e) => e.action === action);
  if (!found) throw new Error(`no example for ${event}.${action}`);
  const payload = structuredClone(found) as Record<string, any>;
  payload.installation = { id: 4242, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==" };
  patch(payload);
  return payload;
}
