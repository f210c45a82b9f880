const TAP_HOOK = /"--import=[^"]*@tapjs\/processinfo[^"]*"|--import=\S*@tapjs\/processinfo\S*/g;

/**
 * `command` and `args` to spawn so that the child runs without the hook tap adds to every child's
 * NODE_OPTIONS to record the processes a test starts. Tap patches `spawn` to add it whatever environment
 * is given, so `/usr/bin/env` sets NODE_OPTIONS again after that (and `command` keeps its pid). Coverage
 * is off, so nothing reads what the hook records, and on Node 20 it passes every module a child loads
 * through a loader thread: a start of the CLI, which loads several hundred, took about a second longer.
 * Operators run it without.
 */
export function withoutTapHook(command: string, args: readonly string[]): [string, string[]] {
  const options = (process.env.NODE_OPTIONS ?? '').trim();
  const without = options.replace(TAP_HOOK, '').trim();
  if (without === options) return [command, [...args]];
  return ['/usr/bin/env', [`NODE_OPTIONS=${without}`, command, ...args]];
}
