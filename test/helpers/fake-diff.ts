/**
 * The fakes' own reading of a unified diff, written apart from src/agent/review/diff.ts so the
 * fakes check what forgebot sends instead of agreeing with it: for each line of each hunk, its
 * old and new numbers and counters.
 */
export type FakeDiffLine = { kind: "+" | "-" | " "; old: number | null; new: number | null; oldPos: number; newPos: number; hunk: number };

export function fakeDiffLines(patch: string | undefined): FakeDiffLine[] {
  const out: FakeDiffLine[] = [];
  let oldN = 0;
  let newN = 0;
  let hunk = -1;
  for (const row of (patch ?? "").split("\n")) {
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(row);
    if (m) {
      oldN = Number(m[1]);
      newN = Number(m[2]);
      hunk += 1;
      continue;
    }
    if (hunk < 0 || row.startsWith("\\")) continue;
    if (row.startsWith("+")) out.push({ kind: "+", old: null, new: newN, oldPos: oldN, newPos: newN++, hunk });
    else if (row.startsWith("-")) out.push({ kind: "-", old: oldN, new: null, oldPos: oldN++, newPos: newN, hunk });
    else if (row.startsWith(" ") || row === "") out.push({ kind: " ", old: oldN, new: newN, oldPos: oldN++, newPos: newN++, hunk });
  }
  // A patch ending in a newline leaves one empty row that is not a line.
  if ((patch ?? "").endsWith("\n") && out[out.length - 1]?.kind === " ") out.pop();
  return out;
}
