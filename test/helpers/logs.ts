import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface CapturedLogs {
  logger: Logger;
  lines: Record<string, unknown>[];
  text(): string;
}

/** A pino logger whose JSON lines are kept in memory for assertions. */
export function captureLogs(level = 'info'): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
        const repeated = repeatedKeys(line);
        if (repeated.length > 0) return done(new Error(`a log line repeats ${repeated.join(', ')}: ${line}`));
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, text: () => raw.join('\n') };
}

/** The keys a JSON object's text holds more than once at its top level (a logger's bindings and a line's own fields, say). */
export function repeatedKeys(text: string): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      // A top-level key: a string at depth 1 followed by a colon.
      if (depth === 1 && text[i + 1] === ':') {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (seen.has(key)) repeated.push(key);
        seen.add(key);
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return repeated;
}
