/**
 * True when `p` settles, either way, within `ms`; false when the time runs out first (`p` is left running).
 * With `unref`, the wait does not keep the process alive by itself (a background check, not a step of a shutdown).
 */
export async function settlesWithin(p: Promise<unknown>, ms: number, o: { unref?: boolean } = {}): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<false>((r) => {
      timer = setTimeout(() => r(false), ms);
      if (o.unref) timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return settled;
}
