import { publishSteps } from "../../metrics/flows.js";
import { ForgeApiError, type ForgeName, type PublishStep, type PublishSteps } from "../../sessions/forge-port.js";
import type { Logger } from "../../sessions/ports.js";
import type { PublishStore } from "./store.js";

/**
 * The step runner behind a publish (sessions/forge-port.ts `PublishSteps`): each step is claimed
 * in Postgres before its first forge request and completed with its result. A step an earlier
 * attempt completed returns that result; one it only claimed may have written before dying, so
 * the step's `find` looks first. A forge that failed without an answer (timeout, network, 5xx)
 * may still have written too: the step is tried again, looking first. Every outcome is counted
 * in forgebot_publish_steps_total{forge, step, outcome}.
 */

/** Waits before the second and third try of a step the forge failed without a definite answer. */
export const STEP_RETRY_DELAYS_MS = [500, 2000] as const;

export type StepRunnerInput = {
  store: PublishStore;
  forge: ForgeName;
  sessionId: number;
  run: number;
  log: Logger;
  /** Aborted on stop and shutdown: no new forge request starts after it. */
  signal: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
};

/** A failure the forge gave no definite answer to: it may have applied the request. */
export function isTransient(err: unknown): boolean {
  return err instanceof ForgeApiError && (err.status === undefined || err.status >= 500);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("publish aborted");
}

export function createStepRunner(input: StepRunnerInput): PublishSteps {
  const { store, forge, sessionId, run, log, signal } = input;
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const count = (step: PublishStep, outcome: "ok" | "found_existing" | "error") => publishSteps.inc({ forge, step, outcome });

  return {
    async run<T>(step: PublishStep, actions: { find?: () => Promise<T | null>; create: (adopt: (found: T) => T) => Promise<T> }): Promise<T> {
      throwIfAborted(signal);
      const claim = await store.claimStep(sessionId, run, step);
      if (claim.result !== null && claim.result !== undefined) {
        count(step, "found_existing");
        return claim.result as T;
      }
      let repeat = !claim.first;
      for (let attempt = 0; ; attempt++) {
        throwIfAborted(signal);
        try {
          if (repeat && actions.find) {
            const found = await actions.find();
            if (found !== null) {
              await store.completeStep(sessionId, run, step, found);
              count(step, "found_existing");
              log.info({ sessionId, run, step }, "publish step found its earlier write");
              return found;
            }
          }
          let adopted = false;
          const value = await actions.create((found) => {
            adopted = true;
            return found;
          });
          await store.completeStep(sessionId, run, step, value);
          count(step, adopted ? "found_existing" : "ok");
          return value;
        } catch (err: unknown) {
          const delay = STEP_RETRY_DELAYS_MS[attempt];
          if (isTransient(err) && delay !== undefined && !signal.aborted) {
            log.warn({ err, sessionId, run, step, attempt: attempt + 1 }, "publish step got no answer from the forge; trying again, looking first");
            repeat = true;
            await sleep(delay);
            continue;
          }
          count(step, "error");
          throw err;
        }
      }
    },

    async write<T>(request: () => Promise<T>): Promise<T> {
      throwIfAborted(signal);
      return request();
    },
  };
}
