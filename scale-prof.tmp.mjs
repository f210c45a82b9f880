import { runScaleScenario } from './dist/bench/scale-scenario.js';
import { execSync } from 'node:child_process';
const samples = [];
const iv = setInterval(() => { try { samples.push(Date.now() + ' ' + execSync("ps -eo pid,pcpu,cputimes,rss,args --no-headers | grep -E 'main.js|redis-server' | grep -v grep | awk '{print $1, $3, $4, $7, $8}'").toString().replace(/\n/g, ' | ')); } catch {} }, 2000);
const r = await runScaleScenario({ suppliers: 1000, relaysPerSupplier: 1, blockMs: 2000, windowBlocks: 6, miners: 2, keepLogs: true, progress: (l) => console.log(new Date().toISOString().slice(11, 19), l) });
clearInterval(iv);
console.log(JSON.stringify(r));
for (const s of samples) console.log(s);
