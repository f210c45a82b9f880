import * as tls from 'node:tls';
import { Agent, fetch } from 'undici';
import { maskUrlSecrets, urlBasicAuthorization } from '../config/url-secrets.js';
/**
 * CometBFT RPC over HTTP JSON-RPC (status, blockchain or block, block_results). The block hash used everywhere is
 * `block_id.hash`, as the chain stores it (docs/spec/protocol.md §6.1).
 */

export interface BlockInfo {
  height: number;
  /** block_id.hash */
  hash: Uint8Array;
  timeMs: number;
}

export class CometRpcError extends Error {
  constructor(
    readonly method: string,
    message: string,
  ) {
    super(`${method}: ${message}`);
    this.name = 'CometRpcError';
  }
}

export class CometClient {
  #id = 0;
  /** Whether the node serves `blockchain` (undefined until the first block query says). */
  #metas: boolean | undefined;

  readonly #dispatcher: Agent | undefined;
  /** Where calls go: rpc_url without a user and password, which fetch refuses in a URL; they go in `#headers`. */
  readonly #endpoint: string;
  readonly #headers: Record<string, string> = { 'content-type': 'application/json' };

  constructor(
    readonly rpcUrl: string,
    readonly timeoutMs = 5000,
    /** A CA to trust for an https:// node, beyond the system's. */
    readonly ca?: Buffer,
  ) {
    if (ca) this.#dispatcher = new Agent({ connect: { ca: [...tls.rootCertificates, ca.toString()] } });
    const u = new URL(rpcUrl);
    const authorization = urlBasicAuthorization(u);
    if (authorization) {
      this.#headers.authorization = authorization;
      u.username = u.password = '';
      this.#endpoint = u.toString();
    } else {
      this.#endpoint = rpcUrl;
    }
  }

  async call<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(this.#endpoint, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: ++this.#id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.#dispatcher && { dispatcher: this.#dispatcher }),
      });
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CometRpcError(method, `${maskUrlSecrets(this.rpcUrl)} did not answer (${why})`);
    }
    const body = (await res.json().catch(() => undefined)) as { result?: T; error?: { message: string; data?: string } } | undefined;
    if (!body) throw new CometRpcError(method, `HTTP ${res.status} without a JSON-RPC body`);
    if (body.error) throw new CometRpcError(method, `${body.error.message}${body.error.data ? `: ${body.error.data}` : ''}`);
    return body.result as T;
  }

  async status(): Promise<{ chainId: string; latest: BlockInfo }> {
    const r = await this.call<{ node_info: { network: string }; sync_info: { latest_block_height: string; latest_block_hash: string; latest_block_time: string } }>('status');
    return {
      chainId: r.node_info.network,
      latest: {
        height: Number(r.sync_info.latest_block_height),
        hash: Uint8Array.from(Buffer.from(r.sync_info.latest_block_hash, 'hex')),
        timeMs: Date.parse(r.sync_info.latest_block_time),
      },
    };
  }

  /**
   * The id and time of the block at `height`, or of the latest (from `status`). From `blockchain`: the
   * block's meta, without its transactions (a mainnet block can carry megabytes of claims and proofs,
   * parsed on the event loop for one hash); from `block` on a node that does not serve `blockchain`.
   */
  async block(height?: number): Promise<BlockInfo> {
    if (!height) return (await this.status()).latest;
    if (this.#metas !== false) {
      try {
        const r = await this.call<{ block_metas?: { block_id: { hash: string }; header: { height: string; time: string } }[] }>('blockchain', { minHeight: String(height), maxHeight: String(height) });
        const meta = r.block_metas?.[0];
        if (meta && Number(meta.header.height) === height) {
          this.#metas = true;
          return { height: Number(meta.header.height), hash: Uint8Array.from(Buffer.from(meta.block_id.hash, 'hex')), timeMs: Date.parse(meta.header.time) };
        }
      } catch (err) {
        // Only a node without the method falls back for good; a failure of a node that has it is the caller's.
        if (this.#metas === true || !/method not found/i.test((err as Error).message)) throw err;
      }
      this.#metas = false;
    }
    const r = await this.call<{ block_id: { hash: string }; block: { header: { height: string; time: string } } }>('block', { height: String(height) });
    return { height: Number(r.block.header.height), hash: Uint8Array.from(Buffer.from(r.block_id.hash, 'hex')), timeMs: Date.parse(r.block.header.time) };
  }

  async blockResults(height: number): Promise<{ finalizeBlockEvents: { type: string; attributes: { key: string; value: string }[] }[] }> {
    const r = await this.call<{ finalize_block_events?: { type: string; attributes: { key: string; value: string }[] }[] }>('block_results', { height: String(height) });
    return { finalizeBlockEvents: r.finalize_block_events ?? [] };
  }

  /** Closes the connections of a client with its own CA (the shared global dispatcher is left alone). */
  async close(): Promise<void> {
    await this.#dispatcher?.close();
  }

  /** ws(s)://…/websocket for the same node. */
  get websocketUrl(): string {
    const u = new URL(this.rpcUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = `${u.pathname.replace(/\/$/, '')}/websocket`;
    return u.toString();
  }
}
