import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeSignedResponse, minedRelayBytes, RelayCodec, relayBytesOf, RelayRequestCodec, RelayResponseCodec } from '../../core/protocol/index.js';
import { isRelayVolumeApplicable } from '../../core/session/index.js';
import { PLACEHOLDER_RING_ADDRESS, PLACEHOLDER_RING_PRIVATE_KEY, PLACEHOLDER_RING_PUBLIC_KEY } from '../../core/crypto/placeholder-ring-key.js';
import { hex, toHex } from '../helpers/vectors.js';

const fixtures = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'poktroll-relay-fixtures.json'), 'utf8')) as {
  target_hash: string;
  minable: string[];
  unminable: string[];
};

t.test("poktroll's relay fixtures: byte-identical re-encoding and difficulty classification", async (t) => {
  const target = hex(fixtures.target_hash);
  for (const [list, minable] of [[fixtures.minable, true], [fixtures.unminable, false]] as const) {
    for (const h of list) {
      const relay = RelayCodec.decode(hex(h));
      t.equal(toHex(RelayCodec.encode(relay)), h, 'decode → encode is Go\'s bytes');
      // The relayer's path: each message encoded on its own, the response without its payload, then put together.
      const response = encodeSignedResponse(relay.res!);
      t.equal(toHex(relayBytesOf(RelayRequestCodec.encode(relay.req!), response.dehydrated)), h, 'relayBytesOf(request, dehydrated response) is Go\'s bytes');
      t.equal(toHex(minedRelayBytes(relay.req!, relay.res!)), h, 'minedRelayBytes is Go\'s bytes');
      t.equal(toHex(response.bytes), toHex(RelayResponseCodec.encode(relay.res!)));
      t.equal(relay.req?.meta.session_header?.session_id, 'session_id');
      t.equal(relay.req?.meta.session_header?.session_start_block_height, 1n);
      t.equal(toHex(relay.res!.payload_hash), toHex(sha256(relay.req!.meta.signature)), 'payload_hash = sha256(random signature bytes)');
      t.equal(isRelayVolumeApplicable(sha256(hex(h)), target), minable, `${minable ? 'minable' : 'unminable'} ${toHex(sha256(hex(h))).slice(0, 8)}…`);
    }
  }
  t.comment(`${fixtures.minable.length + fixtures.unminable.length} relay fixtures checked`);
});

t.test('§11.3: the placeholder ring key', async (t) => {
  t.equal(toHex(PLACEHOLDER_RING_PRIVATE_KEY), '60c6cbe6b5011807d6486f351cbde6f964356df1d0bc1b04f8589cead5ab5206');
  t.equal(toHex(PLACEHOLDER_RING_PUBLIC_KEY), '021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf');
  t.equal(PLACEHOLDER_RING_ADDRESS, '6178B12D0711F3A930A6133C39AE3B89E9E79A04');
  t.ok(PLACEHOLDER_RING_ADDRESS < 'pokt1', 'sorts before every bech32 address');
});
