import Fastify from 'fastify';
import { Pool } from 'undici';

/**
 * The benchmark's baseline: a plain fastify reverse proxy in front of the same backend, with no
 * validation, signing, metering or publishing. What the relayer adds is measured against this.
 * Usage: node dist/bench/baseline-proxy.js <port> <backend-url>
 */
const [port, backend] = process.argv.slice(2);
const pool = new Pool(backend!, { connections: 128 });
const app = Fastify();
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/*', async (req, reply) => {
  const res = await pool.request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: req.body as Buffer });
  const body = Buffer.from(await res.body.arrayBuffer());
  return reply.code(res.statusCode).header('content-type', 'application/json').send(body);
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('baseline listening\n');
