import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { TxFaults } from './tx-engine.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { serverLogOptions } from '../core/observability/servers.js';
import type { Block, LocalChain } from './chain.js';
import * as json from './comet-json.js';

/**
 * CometBFT RPC on one port, as a node serves it: JSON-RPC over POST /, the URI form (GET /status,
 * /block?height=…, /blockchain?minHeight=…&maxHeight=…), and a WebSocket at /websocket for subscribe / unsubscribe / unsubscribe_all on
 * tm.event='NewBlockHeader' and tm.event='NewBlock'. Also /localnet/state and, in manual mode,
 * POST /localnet/advance?blocks=N.
 */

interface RpcError {
  code: number;
  message: string;
  data: string;
}

const INTERNAL = (data: string): RpcError => ({ code: -32603, message: 'Internal error', data });
const INVALID_PARAMS = (data: string): RpcError => ({ code: -32602, message: 'Invalid params', data });
const SUBSCRIBABLE = new Set(['NewBlockHeader', 'NewBlock']);
const MAX_SUBSCRIPTIONS_PER_CLIENT = 100;

/** A height parameter; absent (or 0) is 0. */
function optionalHeight(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return 0;
  const h = Number(raw);
  if (!Number.isSafeInteger(h) || h < 0) throw INVALID_PARAMS(`invalid height ${JSON.stringify(raw)}`);
  return h;
}

/** A block's height parameter: absent or 0 is the latest; one not produced yet is refused as CometBFT does. */
function parseHeight(chain: LocalChain, raw: unknown): number {
  const h = optionalHeight(raw);
  if (h === 0) return chain.height;
  if (h > chain.height) throw INTERNAL(`height ${h} must be less than or equal to the current blockchain height ${chain.height}`);
  return h;
}

function call(chain: LocalChain, rpcAddress: string, method: string, params: Record<string, unknown>): unknown {
  switch (method) {
    case 'status':
      return json.status(chain, rpcAddress);
    case 'abci_info':
      return json.abciInfo(chain);
    case 'block': {
      const b = chain.block(parseHeight(chain, params.height))!;
      return { block_id: json.blockId(b), block: json.block(chain, b) };
    }
    case 'block_results':
      return json.blockResults(chain.block(parseHeight(chain, params.height))!);
    case 'blockchain': {
      // CometBFT's filterMinMax: maxHeight 0 or past the latest is the latest; at most 20 metas, newest first.
      const max = Math.min(optionalHeight(params.maxHeight) || chain.height, chain.height);
      const min = Math.max(1, optionalHeight(params.minHeight), max - 19);
      if (min > max) throw INTERNAL(`min height ${min} can't be greater than max height ${max}`);
      const blocks: Block[] = [];
      for (let h = max; h >= min; h--) blocks.push(chain.block(h)!);
      return json.blockchain(chain, blocks);
    }
    default:
      throw { code: -32601, message: 'Method not found', data: '' } satisfies RpcError;
  }
}

function isRpcError(e: unknown): e is RpcError {
  return typeof e === 'object' && e !== null && 'code' in e && 'message' in e;
}

function respond(chain: LocalChain, rpcAddress: string, id: unknown, method: string, params: Record<string, unknown>) {
  try {
    return { jsonrpc: '2.0', id, result: call(chain, rpcAddress, method, params) };
  } catch (err) {
    return { jsonrpc: '2.0', id, error: isRpcError(err) ? err : INTERNAL((err as Error).message) };
  }
}

/** "tm.event='NewBlockHeader'" → "NewBlockHeader" (the only query form this node answers). */
function eventOfQuery(query: unknown): string | undefined {
  if (typeof query !== 'string') return undefined;
  const m = /^\s*tm\.event\s*=\s*'([A-Za-z]+)'\s*$/.exec(query);
  return m && SUBSCRIBABLE.has(m[1]!) ? m[1] : undefined;
}

/** What the RPC listener's `/localnet/faults` arms: the node's transaction faults. */
export interface FaultTarget {
  armFaults(f: Partial<TxFaults>): TxFaults;
}

export function createCometRpcServer(chain: LocalChain, log: Logger, snapshot: () => object = () => chain.snapshot(), faults?: FaultTarget): FastifyInstance {
  const app = Fastify({ ...serverLogOptions(log, 'localnet-rpc'), bodyLimit: 1024 * 1024 });
  const address = () => {
    const a = app.server.address();
    return typeof a === 'object' && a ? `${a.address}:${a.port}` : '';
  };

  // A node reads the body as JSON whatever Content-Type the client sends.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, { parseError: true });
    }
  });

  app.post('/', async (req) => {
    const body = req.body as { id?: unknown; method?: unknown; params?: unknown; parseError?: true } | undefined;
    if (body?.parseError) return { jsonrpc: '2.0', id: -1, error: { code: -32700, message: 'Parse error', data: '' } };
    if (!body || typeof body.method !== 'string') {
      return { jsonrpc: '2.0', id: body?.id ?? -1, error: { code: -32600, message: 'Invalid Request', data: '' } };
    }
    return respond(chain, address(), body.id ?? -1, body.method, (body.params ?? {}) as Record<string, unknown>);
  });
  for (const method of ['status', 'abci_info', 'block', 'block_results', 'blockchain']) {
    app.get(`/${method}`, async (req) => respond(chain, address(), -1, method, req.query as Record<string, unknown>));
  }

  app.get('/localnet/state', async () => snapshot());
  app.post('/localnet/advance', async (req, reply) => {
    if (!chain.manual) return reply.code(409).send({ error: 'blocks are produced on a timer; advance works in manual mode (block_interval_ms: 0)' });
    const n = Number((req.query as { blocks?: string }).blocks ?? 1);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) return reply.code(400).send({ error: 'blocks must be an integer from 1 to 10000' });
    const b = chain.advance(n);
    return { height: b.height, hash: Buffer.from(b.hash).toString('hex') };
  });

  app.post('/localnet/params', async (req, reply) => {
    const parsed = parseParams(req.body);
    if (typeof parsed === 'string') return reply.code(400).send({ error: parsed });
    chain.updateProofParams(parsed.proof);
    return { params: { proof: { ...chain.genesis.params.proof } } };
  });

  if (faults) {
    app.post('/localnet/faults', async (req, reply) => {
      const parsed = parseFaults(req.body);
      if (typeof parsed === 'string') return reply.code(400).send({ error: parsed });
      return { faults: faults.armFaults(parsed) };
    });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    const subscriptions = new Map<string, { id: unknown; event: string }>();
    const onBlock = (b: Block) => {
      for (const [query, sub] of subscriptions) {
        const result = sub.event === 'NewBlock' ? json.newBlockEvent(chain, b, query) : json.newBlockHeaderEvent(chain, b, query);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: sub.id, result }));
      }
    };
    chain.on('block', onBlock);
    ws.on('close', () => {
      chain.off('block', onBlock);
      sockets.delete(ws);
    });
    ws.on('message', (data) => {
      let msg: { id?: unknown; method?: unknown; params?: Record<string, unknown> };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: -1, error: { code: -32700, message: 'Parse error', data: '' } }));
        return;
      }
      const id = msg.id ?? -1;
      const params = msg.params ?? {};
      const reply = (body: object) => ws.send(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
      switch (msg.method) {
        case 'subscribe': {
          const event = eventOfQuery(params.query);
          if (!event) return reply({ error: INVALID_PARAMS(`unsupported query ${JSON.stringify(params.query)}; this node serves tm.event='NewBlockHeader' and tm.event='NewBlock'`) });
          if (subscriptions.has(params.query as string)) return reply({ error: INTERNAL('already subscribed') });
          if (subscriptions.size >= MAX_SUBSCRIPTIONS_PER_CLIENT) return reply({ error: INTERNAL('max_subscriptions_per_client reached') });
          subscriptions.set(params.query as string, { id, event });
          return reply({ result: {} });
        }
        case 'unsubscribe':
          if (!subscriptions.delete(params.query as string)) return reply({ error: INTERNAL('subscription not found') });
          return reply({ result: {} });
        case 'unsubscribe_all':
          subscriptions.clear();
          return reply({ result: {} });
        default:
          if (typeof msg.method !== 'string') return reply({ error: { code: -32600, message: 'Invalid Request', data: '' } });
          return ws.send(JSON.stringify(respond(chain, address(), id, msg.method, params)));
      }
    });
  });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/websocket') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  // Before the server's close, which waits for every socket, upgraded ones too: a subscriber would hold it open for good.
  app.addHook('preClose', async () => {
    for (const ws of sockets) ws.terminate();
    wss.close();
  });
  return app;
}

type ProofParamsUpdate = Partial<LocalChain['genesis']['params']['proof']>;

/** A JSON object (not null, not an array, not fastify's placeholder for a body it could not parse). */
function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v as { parseError?: true }).parseError;
}

/** A `/localnet/params` body (`{"proof": {...}}`, what a passed MsgUpdateParams sets) → the update, or what is wrong with it. */
export function parseParams(body: unknown): { proof: ProofParamsUpdate } | string {
  const shape = 'the body must be {"proof": {...}} with some of proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt';
  if (!isJsonObject(body)) return shape;
  const extra = Object.keys(body).filter((k) => k !== 'proof');
  if (extra.length) return `unknown module ${JSON.stringify(extra[0])}: only the proof params can change (shared params stay the genesis ones)`;
  const proof = body.proof;
  if (!isJsonObject(proof) || Object.keys(proof).length === 0) return shape;
  const out: ProofParamsUpdate = {};
  for (const [k, v] of Object.entries(proof)) {
    if (k === 'proof_request_probability') {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) return 'proof.proof_request_probability must be a number from 0 to 1';
      out[k] = v;
    } else if (k === 'proof_requirement_threshold_upokt' || k === 'proof_missing_penalty_upokt' || k === 'proof_submission_fee_upokt') {
      if (!Number.isSafeInteger(v) || (v as number) < 0) return `proof.${k} must be a non-negative integer`;
      out[k] = v as number;
    } else {
      return `unknown proof param ${JSON.stringify(k)} (valid: proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt)`;
    }
  }
  return { proof: out };
}

/** A `/localnet/faults` body → the faults to arm, or what is wrong with it. */
export function parseFaults(body: unknown): Partial<TxFaults> | string {
  if (!isJsonObject(body)) return 'the body must be a JSON object, e.g. {"drop_accepted_txs": 1}';
  const known = ['drop_accepted_txs', 'delay_inclusion_blocks', 'reject_next', 'refuse_in_block', 'unavailable_next'];
  const entries = Object.entries(body);
  if (entries.length === 0) return `name at least one fault: ${known.join(', ')}`;
  const out: Partial<TxFaults> = {};
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1_000_000;
  for (const [k, v] of entries) {
    if (k === 'drop_accepted_txs' || k === 'delay_inclusion_blocks' || k === 'unavailable_next') {
      if (!count(v)) return `${k} must be an integer from 0 to 1000000`;
      out[k] = v as number;
    } else if (k === 'reject_next' || k === 'refuse_in_block') {
      if (!isJsonObject(v)) return `${k} must be {"count": N, "code": C, "log": "..."}`;
      const r: { count?: unknown; code?: unknown; codespace?: unknown; log?: unknown } = v;
      const extra = Object.keys(r).filter((x) => !['count', 'code', 'codespace', 'log'].includes(x));
      if (extra.length) return `${k}: unknown key ${extra[0]} (valid: count, code, codespace, log)`;
      if (!count(r.count)) return `${k}.count must be an integer from 0 to 1000000`;
      if (!Number.isInteger(r.code) || (r.code as number) < 1 || (r.code as number) > 4_294_967_295) return `${k}.code must be a non-zero ABCI code (an integer from 1)`;
      if (r.log !== undefined && typeof r.log !== 'string') return `${k}.log must be a string`;
      if (r.codespace !== undefined && typeof r.codespace !== 'string') return `${k}.codespace must be a string`;
      out[k] = { count: r.count as number, code: r.code as number, codespace: (r.codespace as string | undefined) ?? 'sdk', log: (r.log as string | undefined) ?? '' };
    } else {
      return `unknown fault ${JSON.stringify(k)} (valid: ${known.join(', ')})`;
    }
  }
  return out;
}
