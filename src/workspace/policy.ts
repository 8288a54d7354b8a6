import picomatch from "picomatch";

/**
 * What a change session may change. CI definitions (and forgebot's own settings file) are never
 * edited by the agent: a change that ran its own pipeline, or loosened the rules it runs under,
 * would act with more than the requester asked for. A repository protects more paths with
 * `.forgebot.yml` `changes.protected`.
 */
/** CI definitions (workflows and the local actions they run) and forgebot's own settings. */
export const ALWAYS_PROTECTED = [".github/workflows/**", ".github/actions/**", ".gitlab-ci.yml", ".forgebot.yml"] as const;

export type ChangePolicy = {
  /** CHANGE_MAX_FILES: files the patch may touch. */
  maxFiles: number;
  /** CHANGE_MAX_PATCH_BYTES: size of `git diff --binary` against the snapshot. */
  maxPatchBytes: number;
  /** The globs refused (ALWAYS_PROTECTED and the repository's own). */
  protectedGlobs: readonly string[];
};

export function changePolicy(limits: { maxFiles: number; maxPatchBytes: number }, repositoryProtected: readonly string[]): ChangePolicy {
  return { ...limits, protectedGlobs: [...ALWAYS_PROTECTED, ...repositoryProtected] };
}

/** The glob protecting `path`, or null. */
export function protectedBy(policy: ChangePolicy, path: string): string | null {
  for (const glob of policy.protectedGlobs) {
    if (picomatch(glob, { dot: true })(path)) return glob;
  }
  return null;
}

/** The reason a change to `path` is refused, as the agent reads it. */
export function protectedReason(path: string, glob: string): string {
  const source = (ALWAYS_PROTECTED as readonly string[]).includes(glob) ? "forgebot never edits CI definitions or its own settings" : "the repository's .forgebot.yml protects it (changes.protected)";
  return `${path} is a protected path (${glob}): ${source}. Leave it unchanged and mention in your answer what should change there.`;
}

/**
 * Why a patch may not be published, checked again at publish time on the files it touches
 * (whatever made them): a protected path, more files than CHANGE_MAX_FILES, a patch larger than
 * CHANGE_MAX_PATCH_BYTES. Null when it may.
 */
export function publishRefusalReason(policy: ChangePolicy, files: readonly { path: string; oldPath: string | null }[], patchBytes: number): string | null {
  for (const file of files) {
    for (const path of [file.oldPath, file.path]) {
      if (path === null) continue;
      const glob = protectedBy(policy, path);
      if (!glob) continue;
      const source = (ALWAYS_PROTECTED as readonly string[]).includes(glob) ? "forgebot never publishes changes to CI definitions or its own settings" : "the repository's .forgebot.yml protects it (changes.protected)";
      return `the change touches \`${path}\`, a protected path (\`${glob}\`): ${source}`;
    }
  }
  if (files.length > policy.maxFiles) return `the change touches ${files.length} files, more than CHANGE_MAX_FILES (${policy.maxFiles})`;
  if (patchBytes > policy.maxPatchBytes) return `the patch has ${patchBytes} bytes, more than CHANGE_MAX_PATCH_BYTES (${policy.maxPatchBytes})`;
  return null;
}
