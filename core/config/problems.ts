import { RENAMED_GO_KEYS } from './go-keys.js';

/** A single thing wrong with a configuration, located by its YAML path (and line, when known). */
export interface ConfigProblem {
  /** Dotted YAML path, e.g. `relayer.listen_address` or `plugins[2].options.port`. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly file: string | undefined;
  /**
   * The file's plugin entries (environment references resolved) when it could be read that far, so
   * `validate` checks their options too: every problem of a file at once.
   */
  readonly pluginEntries: { name: string; options: Record<string, unknown> }[] | undefined;

  constructor(problems: ConfigProblem[], file?: string, pluginEntries?: { name: string; options: Record<string, unknown> }[]) {
    super(formatProblems(problems, file));
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
    this.pluginEntries = pluginEntries;
  }
}

export function formatProblem(p: ConfigProblem, file?: string): string {
  const where = file ? `${file}${p.line ? `:${p.line}:${p.column ?? 1}` : ''}` : p.line ? `line ${p.line}` : '';
  const path = p.path || '(root)';
  return `${where ? `${where}: ` : ''}${path}: ${p.message}`;
}

export function formatProblems(problems: ConfigProblem[], file?: string): string {
  const n = problems.length;
  const head = `${file ?? 'configuration'}: ${n} problem${n === 1 ? '' : 's'}`;
  return [head, ...problems.map((p) => `  ${formatProblem(p, file)}`)].join('\n');
}

/** The first few of a list, and how many more: one line in a message however many there are. */
export function few(items: readonly string[], shown = 3): string {
  return items.length <= shown ? items.join(', ') : `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}

/** Path segments → `a.b[2].c`. */
export function joinPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}


export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest valid name within a typo's reach, or a known rename from the Go configuration. */
export function suggestKey(unknown: string, valid: readonly string[]): string | undefined {
  const renamed = RENAMED_GO_KEYS[unknown];
  if (renamed) return renamed;
  const lower = unknown.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = levenshtein(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const reach = Math.max(2, Math.floor(unknown.length / 3));
  return bestDistance <= reach ? best : undefined;
}

/** Why a file could not be read (or parsed), in the words of a configuration problem. */
export function unreadableReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'file not found';
    case 'EISDIR':
      return 'a directory, not a file';
    case 'EACCES':
      return 'permission denied';
    default:
      // A system call's error says its code; any other (a YAML parser's, whose `code` names the rule) its message.
      return e.syscall && e.code ? e.code : String(e.message ?? e).split('\n')[0]!;
  }
}
