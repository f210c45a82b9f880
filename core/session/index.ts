export * from './grid.js';
export * from './session-id.js';
export * from './difficulty.js';
export * from './claim.js';
export { GoRandSource, goVarint, seededFloat64 } from './go-rand.js';
