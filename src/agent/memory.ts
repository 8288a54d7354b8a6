import type { ModelMessage } from "ai";
import { chainOf, type Checkpoint, type CheckpointStore, type HistoryRef } from "./checkpoints.js";
import { ASK_USER_TOOL, assistantText, questionOf, toolCallsIn } from "./state.js";

/**
 * Thread memory: a new session in a thread continues the conversation of the sessions before
 * it. Their requests, questions, answers and results become history (tool traffic is left out:
 * it is large and tied to the provider that made it), kept within a token budget by dropping
 * the oldest messages. The first checkpoint records which sessions (up to which seq) were used,
 * so a resumed run rebuilds exactly the same history.
 */

/** How many earlier sessions are looked at, newest first. */
const MAX_SESSIONS = 20;

/** A rough token count (4 characters a token): enough to keep history within a budget. */
export function estimateTokens(messages: readonly ModelMessage[]): number {
  return Math.ceil(JSON.stringify(messages).length / 4);
}

function toolResultText(output: unknown): string {
  const o = output as { type?: string; value?: unknown } | null;
  if (o && typeof o.value === "string") return o.value;
  return JSON.stringify(o?.value ?? output);
}

/** The conversational messages of one session's chain. */
export function memoryMessages(chain: readonly Checkpoint[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  for (const { delta } of chain) {
    if (delta.kind === "start") out.push(...delta.messages.filter((m) => m.role === "user"));
    if (delta.kind === "input") {
      for (const m of delta.messages) {
        if (m.role === "user") out.push(m);
        if (m.role !== "tool") continue;
        for (const part of m.content) {
          if (part.type === "tool-result" && part.toolName === ASK_USER_TOOL) out.push({ role: "user", content: toolResultText(part.output) });
        }
      }
    }
    if (delta.kind === "step") {
      const ask = toolCallsIn(delta.messages).find((c) => c.toolName === ASK_USER_TOOL);
      const text = [assistantText(delta.messages), ask ? questionOf(ask) : ""].filter(Boolean).join("\n\n");
      // Intermediate narration between tool calls is dropped; answers and questions stay.
      if (text && (ask || toolCallsIn(delta.messages).length === 0)) out.push({ role: "assistant", content: text });
    }
  }
  return out;
}

/** The newest messages within `budget` tokens, starting with a user message. */
export function fitToBudget(messages: readonly ModelMessage[], budget: number): ModelMessage[] {
  const kept: ModelMessage[] = [];
  let used = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const cost = estimateTokens([messages[i]!]);
    if (used + cost > budget) break;
    kept.unshift(messages[i]!);
    used += cost;
  }
  while (kept.length > 0 && kept[0]!.role !== "user") kept.shift();
  return kept;
}

export type Memory = { refs: HistoryRef[]; messages: ModelMessage[] };

/**
 * Picks the earlier sessions of the conversation that fit the budget (for a new session), and of
 * the conversations in `alsoFrom` (a follow-up in a change request forgebot opened continues the
 * thread that asked for it).
 */
export async function collectMemory(
  store: CheckpointStore,
  session: { id: number; conversationKey: string },
  budget: number,
  alsoFrom: readonly string[] = [],
): Promise<Memory> {
  if (budget <= 0) return { refs: [], messages: [] };
  const keys = [session.conversationKey, ...alsoFrom.filter((k) => k !== session.conversationKey)];
  const lists = await Promise.all(keys.map((key) => store.listEarlierSessions(key, session.id, MAX_SESSIONS)));
  const earlier = lists.flat().sort((a, b) => b.id - a.id).slice(0, MAX_SESSIONS);
  const picked: { ref: HistoryRef; messages: ModelMessage[] }[] = [];
  let used = 0;
  for (const s of earlier) {
    if (used >= budget) break;
    const chain = chainOf(await store.list(s.id));
    const last = chain[chain.length - 1];
    const messages = memoryMessages(chain);
    if (!last || messages.length === 0) continue;
    picked.unshift({ ref: { sessionId: s.id, seq: last.seq }, messages });
    used += estimateTokens(messages);
  }
  return { refs: picked.map((p) => p.ref), messages: fitToBudget(picked.flatMap((p) => p.messages), budget) };
}

/** Rebuilds the memory a session started with, from the refs its first checkpoint recorded. */
export async function loadMemory(store: CheckpointStore, refs: readonly HistoryRef[], budget: number): Promise<ModelMessage[]> {
  const messages: ModelMessage[] = [];
  for (const ref of refs) messages.push(...memoryMessages(chainOf(await store.list(ref.sessionId, ref.seq))));
  return fitToBudget(messages, budget);
}
