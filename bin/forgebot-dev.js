#!/usr/bin/env node
// Development entry point: runs the TypeScript sources through tsx's loader, with no build. The
// tests spawn this one (they must not depend on a build); production runs bin/forgebot.js.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
