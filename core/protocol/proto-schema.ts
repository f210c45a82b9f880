import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The repo's .proto definitions (parsed by protobufjs) and, per message type, the plan the codec works
 * from: its fields in wire order with what encoding and decoding need to know of each.
 */

export const PROTO_DIR = join(PACKAGE_ROOT, 'core', 'protocol', 'proto');

/** Every .proto file of the repo (services included), loaded together. */
export const PROTO_FILES = [
  'pocket/service/relay.proto',
  'pocket/service/relay_mining_difficulty.proto',
  'pocket/session/types.proto',
  'pocket/shared/service.proto',
  'pocket/shared/supplier.proto',
  'pocket/shared/params.proto',
  'pocket/supplier/params.proto',
  'pocket/application/types.proto',
  'pocket/gateway/types.proto',
  'pocket/proof/types.proto',
  'pocket/proof/tx.proto',
  'sdk/types/http.proto',
  'pocket/shared/query.proto',
  'pocket/session/query.proto',
  'pocket/application/query.proto',
  'pocket/supplier/query.proto',
  'pocket/service/query.proto',
  'pocket/proof/query.proto',
  'cosmos/auth/v1beta1/auth.proto',
  'cosmos/bank/v1beta1/query.proto',
  'cosmos/crypto/secp256k1/keys.proto',
  'cosmos/crypto/keyring/v1/record.proto',
  'cosmos/tx/v1beta1/tx.proto',
  'relayminer/mined_relay.proto',
  'grpc/health/v1/health.proto',
  'cosmos/base/tendermint/v1beta1/query.proto',
];

let root: protobuf.Root | undefined;

/** The parsed definitions (loaded once). */
export function protoRoot(): protobuf.Root {
  if (!root) {
    const require = createRequire(import.meta.url);
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => {
      // descriptor.proto ships as a file with protobufjs; any/timestamp/… are its built-in "common" types.
      if (target === 'google/protobuf/descriptor.proto') return require.resolve('protobufjs/google/protobuf/descriptor.proto');
      if (target.startsWith('google/protobuf/')) return target;
      return isAbsolute(target) ? target : join(PROTO_DIR, target);
    };
    r.loadSync(PROTO_FILES, { keepCase: true });
    r.resolveAll();
    root = r;
  }
  return root;
}

export type ScalarType =
  | 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64'
  | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes';

export interface ScalarKind { kind: 'scalar'; type: ScalarType }
export interface EnumKind { kind: 'enum' }
export interface MessageKind { kind: 'message'; plan: () => Plan }
export type ValueKind = ScalarKind | EnumKind | MessageKind;

export interface FieldPlan {
  name: string;
  id: number;
  value: ValueKind;
  repeated: boolean;
  map?: { key: ScalarKind };
  /** gogoproto nullable=false message: always present and emitted. */
  nonNullable: boolean;
  /** Member of a oneof: has presence, so a set zero value is emitted and an absent one is undefined. */
  inOneof: boolean;
}

export interface Plan {
  fullName: string;
  fields: FieldPlan[];
  byId: Map<number, FieldPlan>;
}

const plans = new Map<string, Plan>();

export function planFor(typeName: string): Plan {
  const existing = plans.get(typeName);
  if (existing) return existing;
  const type = protoRoot().lookupType(typeName);
  const plan: Plan = { fullName: type.fullName.replace(/^\./, ''), fields: [], byId: new Map() };
  plans.set(typeName, plan); // before children: self-references resolve lazily
  for (const f of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const value = kindOf(f.type, f.resolvedType);
    const field: FieldPlan = {
      name: f.name,
      id: f.id,
      value,
      repeated: f.repeated,
      nonNullable: value.kind === 'message' && f.options?.['(gogoproto.nullable)'] === false,
      inOneof: f.partOf !== null && f.partOf !== undefined,
    };
    if (f instanceof protobuf.MapField) {
      field.map = { key: { kind: 'scalar', type: f.keyType as ScalarType } };
      field.repeated = false;
    }
    plan.fields.push(field);
    plan.byId.set(f.id, field);
  }
  return plan;
}

function kindOf(type: string, resolved: protobuf.Type | protobuf.Enum | null): ValueKind {
  if (resolved instanceof protobuf.Enum) return { kind: 'enum' };
  if (resolved instanceof protobuf.Type) {
    const name = resolved.fullName.replace(/^\./, '');
    let plan: Plan | undefined;
    return { kind: 'message', plan: () => (plan ??= planFor(name)) };
  }
  return { kind: 'scalar', type: type as ScalarType };
}
