import t from 'tap';
import { moduleOfPath } from '../../bench/code-module.js';

t.test('modules of scripts: packages, node built-ins, directories of this project', async (t) => {
  t.equal(moduleOfPath('/work/main/node_modules/undici/lib/api/api-request.js'), 'npm undici');
  t.equal(moduleOfPath('/work/main/node_modules/@grpc/grpc-js/build/src/server.js'), 'npm @grpc/grpc-js');
  t.equal(moduleOfPath('node:internal/streams/writable'), 'node:internal/streams');
  t.equal(moduleOfPath('node:_http_server'), 'node:_http_server');
  t.equal(moduleOfPath('/work/main/dist/core/relay/pipeline.js'), 'core/relay');
  t.equal(moduleOfPath('/work/main/dist/plugins/transport-websocket/bridge.js'), 'plugins/transport-websocket');
});
