import type { ForgeProvider } from "../sessions/ports.js";
import type { Forge, ForgeName } from "../sessions/forge-port.js";

/**
 * The only place that knows which forges are configured. Adapters register themselves at
 * start-up (main.ts); the domain asks for a forge by name.
 */
export function createForgeRegistry(entries: { forge: Forge; handle: () => string }[]): ForgeProvider & { names(): ForgeName[] } {
  const byName = new Map(entries.map((e) => [e.forge.name, e]));
  function entry(name: ForgeName) {
    const found = byName.get(name);
    if (!found) throw new Error(`forge ${name} is not configured`);
    return found;
  }
  return {
    forgeFor: (name) => entry(name).forge,
    handleFor: (name) => entry(name).handle(),
    names: () => [...byName.keys()],
  };
}
