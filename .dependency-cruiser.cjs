/**
 * The import rules of DESIGN.md ("Shape of the code"), checked by `npm test`:
 * arrows point inward to `sessions/` (the domain and its ports); `lifecycle/` orchestrates on
 * those ports alone; storage and the web never reach into a forge; no import cycles anywhere.
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "Import cycles hide the order modules load in and tie parts that should be apart.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "domain-is-pure",
      comment: "sessions/ is the domain: it imports no other part of forgebot.",
      severity: "error",
      from: { path: "^src/sessions/" },
      to: { path: "^src/", pathNot: "^src/sessions/" },
    },
    {
      name: "lifecycle-uses-only-the-domain",
      comment: "lifecycle/ orchestrates through the ports sessions/ declares, nothing else.",
      severity: "error",
      from: { path: "^src/lifecycle/" },
      to: { path: "^src/", pathNot: "^src/(sessions|lifecycle)/" },
    },
    {
      name: "domain-and-lifecycle-use-no-framework",
      comment: "No framework, driver, library or SDK in sessions/ or lifecycle/, not even its types: Node's own modules only.",
      severity: "error",
      from: { path: "^src/(sessions|lifecycle)/" },
      to: {
        dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-bundled", "npm-no-pkg", "npm-unknown"],
      },
    },
    {
      name: "storage-and-web-never-reach-a-forge",
      comment: "Forge words and clients reach storage and the web only through the domain's ports.",
      severity: "error",
      from: { path: "^src/(storage|web)/" },
      to: { path: "^src/forges/" },
    },
    {
      name: "no-unresolvable",
      comment: "Every import resolves to a file or a package.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".json"],
    },
  },
};
