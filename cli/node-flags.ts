/**
 * V8 flags a relayer process starts with. They size the heap, so they work only on node's command line:
 * not in NODE_OPTIONS, not set from inside a running process. Left to its default, V8 sizes the old
 * generation from the first objects that survive, just above what a relayer keeps alive, and then
 * collects the whole heap every second or two at 1,000 relays/s; each collection's concurrent marking
 * takes the cores the relays in flight wait on, and they finish together 10–25 ms late. With room for
 * 128 MB before the first full collection there are a few an hour (bench/README.md).
 */
export const RELAYER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** The flags of RELAYER_NODE_FLAGS that `execArgv` does not set (by name, whatever its value). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const name = (flag: string) => flag.split('=')[0]!.replaceAll('_', '-');
  const given = new Set(execArgv.map(name));
  return RELAYER_NODE_FLAGS.filter((flag) => !given.has(name(flag)));
}
