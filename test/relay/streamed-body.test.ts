import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import protobuf from 'protobufjs';
import { POKTHTTPResponseCodec, type HttpHeader } from '../../core/protocol/index.js';
import { StreamedBody } from '../../core/relay/streamed-body.js';
import { tempDir } from '../helpers/temp-dir.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const header = new Map<string, HttpHeader>([
  ['content-type', { key: 'content-type', values: ['application/grpc'] }],
  ['grpc-status', { key: 'grpc-status', values: ['0'] }],
]);

// An independent encoder (protobufjs, not the project's codec) for the whole payload.
const root = protobuf.parse(`syntax = "proto3";
message Header { string key = 1; repeated string values = 2; }
message POKTHTTPResponse { uint32 status_code = 1; map<string, Header> header = 2; bytes body_bz = 3; }`, { keepCase: true }).root;
const Reference = root.lookupType('POKTHTTPResponse');
function referenceHash(status: number, h: Map<string, HttpHeader>, body: Buffer): string {
  // Map entries in key order, as gogoproto writes them.
  const sorted = Object.fromEntries([...h].sort(([a], [b]) => (a < b ? -1 : 1)));
  // proto3 leaves an empty bytes field out, as Go does; protobufjs writes what it is given.
  const fields = body.length ? { status_code: status, header: sorted, body_bz: body } : { status_code: status, header: sorted };
  return hex(sha256(Reference.encode(Reference.create(fields)).finish()));
}

t.test('the payload hash equals the hash of the whole POKTHTTPResponse, around every varint width, in memory and spilled to a file', async (t) => {
  const dir = tempDir(t, 'streamed-body-test');
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000, 2_097_151, 2_097_152]) {
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = (i * 31 + 7) & 0xff;
    for (const memoryBytes of [64 * 1024 * 1024, 1000]) {
      const streamed = new StreamedBody({ memoryBytes, dir });
      for (let at = 0; at < size; at += 4096) await streamed.add(body.subarray(at, at + 4096));
      const got = hex(await streamed.payloadHash(200, header));
      const where = streamed.spilled ? 'file' : 'memory';
      t.equal(got, referenceHash(200, header, body), `${size} bytes (${where})`);
      t.equal(got, hex(sha256(POKTHTTPResponseCodec.encode({ status_code: 200, header, body_bz: body }))), `${size} bytes (${where}): the project's codec agrees`);
      t.equal(streamed.spilled, memoryBytes === 1000 && size > 1000, `${size} bytes with ${memoryBytes} in memory: ${where}`);
      await streamed.discard();
    }
  }
  t.same(readdirSync(dir), [], 'every temporary file is removed on discard');
});

t.test('a directory that cannot be written keeps the body in memory, and the hash is still right', async (t) => {
  const streamed = new StreamedBody({ memoryBytes: 10, dir: '/proc/no-such-dir' });
  const body = Buffer.from('data: {"n":1}\n\ndata: {"n":2}\n\n');
  await streamed.add(body);
  t.equal(streamed.spilled, false);
  t.equal(hex(await streamed.payloadHash(200, new Map())), referenceHash(200, new Map(), body));
  await streamed.discard();
  t.notOk(existsSync('/proc/no-such-dir'));
});
