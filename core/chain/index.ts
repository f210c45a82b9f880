export * from './query-client.js';
export * from './comet-client.js';
export * from './block-follower.js';
export type { QueryLane } from './query-slots.js';
