import { addressFromPublicKey, publicKeyFromPrivateKey } from './address.js';
import { parsePrivateKeyHex } from './private-key.js';

const inspect = Symbol.for('nodejs.util.inspect.custom');

/**
 * A supplier operator key. The scalar lives in a private field, so JSON, pino and util.inspect
 * see only the address: a key cannot reach a log line by accident.
 */
export class SupplierKey {
  readonly address: string;
  readonly publicKey: Uint8Array;
  readonly #privateKey: Uint8Array;

  private constructor(privateKey: Uint8Array) {
    this.#privateKey = privateKey;
    this.publicKey = publicKeyFromPrivateKey(privateKey);
    this.address = addressFromPublicKey(this.publicKey);
  }

  static fromHex(hex: string): SupplierKey {
    return new SupplierKey(parsePrivateKeyHex(hex));
  }

  static fromBytes(privateKey: Uint8Array): SupplierKey {
    return new SupplierKey(Uint8Array.from(privateKey));
  }

  /** The raw scalar, for signing code in core/crypto only. */
  privateKeyBytes(): Uint8Array {
    return this.#privateKey;
  }

  toJSON(): { address: string } {
    return { address: this.address };
  }

  toString(): string {
    return `SupplierKey(${this.address})`;
  }

  [inspect](): string {
    return this.toString();
  }
}
