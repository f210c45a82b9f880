export * from './signature.js';
export { hashToScalar, hashToScalarCanonical, hashToCurve, CURVE_ORDER } from './hash.js';
export { NobleRingBackend } from './backend-noble.js';
export { NativeRingBackend } from './backend-native.js';
export type { RingCurveBackend } from './backend.js';
