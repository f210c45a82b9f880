import type { ConfigProblem } from './problems.js';
import { joinPath } from './problems.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export interface InterpolationResult {
  value: unknown;
  /** Paths of every scalar that took its value from the environment. */
  interpolated: Set<string>;
  problems: ConfigProblem[];
}

/** The JSON Schema type expected at a path, when the schema says (undefined inside free-form maps). */
export type TypeAt = (path: readonly (string | number)[]) => string | undefined;

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string value (never in keys); `$${` is a literal `${`.
 * A scalar that is exactly one reference becomes a number or boolean where the schema expects one
 * (`port: ${PORT}`); where the schema does not say, only a plain `8080`, `1.5`, `true` or `false` is
 * converted. Substitution happens after YAML parsing, so a variable can never change the document's structure.
 */
export function interpolateEnv(root: unknown, env: NodeJS.ProcessEnv, typeAt: TypeAt = () => undefined): InterpolationResult {
  const interpolated = new Set<string>();
  const problems: ConfigProblem[] = [];

  const visit = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') return substitute(node, path);
    if (Array.isArray(node)) return node.map((v, i) => visit(v, [...path, i]));
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = visit(v, [...path, k]);
      return out;
    }
    return node;
  };

  const substitute = (text: string, path: (string | number)[]): unknown => {
    if (!text.includes('${')) return text;
    const whole = WHOLE_REFERENCE.exec(text);
    if (whole) {
      const [, name, fallback] = whole;
      const raw = env[name!] ?? fallback;
      if (raw === undefined) {
        problems.push({ path: joinPath(path), message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
        return text;
      }
      interpolated.add(joinPath(path));
      return typedScalar(raw, typeAt(path));
    }
    let used = false;
    const replaced = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const raw = env[name!] ?? fallback;
      if (raw === undefined) {
        problems.push({ path: joinPath(path), message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
        return match;
      }
      used = true;
      return raw;
    });
    if (used) interpolated.add(joinPath(path));
    return replaced;
  };

  return { value: visit(root, []), interpolated, problems };
}

/**
 * Numbers and booleans only when the text is their plain spelling: `8080`, `1.7`, `true`, and the
 * schema wants (or does not rule out) that type. `0x1f`, `1e5` or a hex key stay strings.
 */
function typedScalar(raw: string, expected: string | undefined): unknown {
  if (expected === 'string' || expected === 'array' || expected === 'object') return raw;
  if (raw === 'true' && expected !== 'integer' && expected !== 'number') return true;
  if (raw === 'false' && expected !== 'integer' && expected !== 'number') return false;
  if (expected === 'boolean') return raw;
  if (raw === 'false') return false;
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(raw)) {
    const n = Number(raw);
    if (Number.isFinite(n) && String(n) === raw) return n;
  }
  return raw;
}
