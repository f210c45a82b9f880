import t from 'tap';
import { categoryOf, parsePerfScript, perfBreakdown } from '../../bench/perf-breakdown.js';

// Samples as `perf script` prints them for a relayer run with --perf-basic-prof (taken from a real run, trimmed).
const SIGN = `node 19438 32464.349759:    1001001 cpu-clock: 
	           11c30 Napi::InstanceWrap<Secp256k1Addon>::InstanceMethodCallbackWrapper+0x0 (/work/main/node_modules/secp256k1/prebuilds/linux-x64/secp256k1.glibc.node)
	         14d1546 Builtins_CallApiCallback+0x86 (/usr/bin/node)
	    7f42ec3e72b8 JS:*ecdsaSign /work/main/node_modules/secp256k1/lib/index.js:258:15+0x978 (/tmp/perf-19438.map)
	    7f42ec427ff4 JS:*signSha256 file:///work/main/dist/core/crypto/supplier-signature.js:6:27+0x4b4 (/tmp/perf-19438.map)`;
const TABLE_SUM = `node 19455 32465.844800:    1001001 cpu-clock: 
	            2060 napi_get_null@plt+0x0 (/work/main/build/Release/secp256k1_lincomb.node)
	          845d95 v8impl::(anonymous namespace)::FunctionCallbackWrapper::Invoke+0x55 (/usr/bin/node)
	    7f4034064f80 JS:*memberSums file:///work/main/dist/core/crypto/ring/backend-native.js:152:15+0xf80 (/tmp/perf-19438.map)`;
const UNDICI = `node 19438 32468.915151:    1001001 cpu-clock: 
	         14ce0dc Builtins_LoadIC+0x5c (/usr/bin/node)
	    7f42ec3b04c8 JS:*resumeH1 /work/main/node_modules/undici/lib/dispatcher/client-h1.js:1052:19+0x8 (/tmp/perf-19438.map)
	    7f42ec40921a JS:*handle file:///work/main/dist/core/relay/pipeline.js:26:17+0x1bda (/tmp/perf-19438.map)`;
const PIPELINE = `node 19438 32463.448212:    1001001 cpu-clock: 
	    7f42ec407aed JS:*handle file:///work/main/dist/core/relay/pipeline.js:26:17+0x4ad (/tmp/perf-19438.map)
	         1508083 Builtins_AsyncFunctionAwaitResolveClosure+0x43 (/usr/bin/node)`;
const SCAVENGE = `node 19440 32462.158613:    1001001 cpu-clock: 
	          d9b7ba v8::internal::Scavenger::Process+0x10a (/usr/bin/node)
	          932ce1 node::(anonymous namespace)::PlatformWorkerThread+0x191 (/usr/bin/node)`;
const EPOLL = `node 19438 32462.358845:    1001001 cpu-clock: 
	ffffffff81754e7c __x64_sys_epoll_pwait+0x8c ([kernel.kallsyms])
	          108cae epoll_pwait+0x6e (/usr/lib/x86_64-linux-gnu/libc.so.6)`;
const STREAMS = `node 19438 32470.000001:    1001001 cpu-clock: 
	ffffffff81e7b30e tcp_sendmsg+0x3e ([kernel.kallsyms])
	    7f42ec3b0000 JS:*writevGeneric node:internal/stream_base_commons:122:23+0x10 (/tmp/perf-19438.map)
	    7f42ec40921a JS:*handle file:///work/main/dist/core/relay/pipeline.js:26:17+0x1bda (/tmp/perf-19438.map)`;

t.test('each sample goes to what it was running', async (t) => {
  const [sign, sum, undici, pipeline, scavenge, epoll, streams] = parsePerfScript([SIGN, TABLE_SUM, UNDICI, PIPELINE, SCAVENGE, EPOLL, STREAMS].join('\n\n'));
  t.same(
    [sign, sum, undici, pipeline, scavenge, epoll, streams].map((s) => [s!.tid, s!.frames.length]),
    [['19438', 4], ['19455', 3], ['19438', 3], ['19438', 2], ['19440', 2], ['19438', 2], ['19438', 3]],
  );
  t.equal(categoryOf(sign!), 'libsecp256k1 (secp256k1 package: ECDSA)');
  t.equal(categoryOf(sum!), 'ring table sums (native addon)');
  t.equal(categoryOf(undici!), 'npm undici', 'a builtin counts to the JS module that called it, the nearest one');
  t.equal(categoryOf(pipeline!), 'core/relay');
  t.equal(categoryOf(scavenge!), 'garbage collector');
  t.equal(categoryOf(epoll!), 'no JS on the stack ([kernel.kallsyms])');
  t.equal(categoryOf(streams!), 'node:internal/stream_base_commons', 'a system call counts to the JS that made it');
});

t.test('per thread, busiest first, µs per relay from the sample rate', async (t) => {
  const text = [SIGN, UNDICI, PIPELINE, PIPELINE, TABLE_SUM, SCAVENGE].join('\n\n');
  // 1,000 samples per second and 2 relays: one sample is 1 ms, 500 µs per relay.
  const threads = perfBreakdown(text, 2, 1000);
  t.same(
    threads.map((x) => [x.tid, x.samples, x.usPerRelay]),
    [['19438', 4, 2000], ['19455', 1, 500], ['19440', 1, 500]],
  );
  t.same(threads[0]!.parts, [
    { what: 'core/relay', samples: 2, usPerRelay: 1000 },
    { what: 'libsecp256k1 (secp256k1 package: ECDSA)', samples: 1, usPerRelay: 500 },
    { what: 'npm undici', samples: 1, usPerRelay: 500 },
  ]);
});
