import t from 'tap';
import { spawnSync } from 'node:child_process';
import { withoutTapHook } from './helpers/child-env.js';

// The CLI's tests start it without tap's process-recording hook (test/helpers/child-env.ts). If a tap
// release stops adding the hook, or adds it another way, this says so rather than the suite slowing down.
const childNodeOptions = (command: string, args: string[]) =>
  spawnSync(command, args, { encoding: 'utf8' }).stdout.trim();
const PRINT = ['-e', 'process.stdout.write(process.env.NODE_OPTIONS ?? "")'];

t.test("a plain spawn carries tap's hook; withoutTapHook's does not, and keeps the rest", async (t) => {
  t.match(childNodeOptions(process.execPath, PRINT), '@tapjs/processinfo');
  t.equal(childNodeOptions(...withoutTapHook(process.execPath, PRINT)), '');
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${saved} --max-http-header-size=20000`;
  t.teardown(() => void (process.env.NODE_OPTIONS = saved));
  t.equal(childNodeOptions(...withoutTapHook(process.execPath, PRINT)), '--max-http-header-size=20000');
});
