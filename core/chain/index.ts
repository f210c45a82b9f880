export * from './query-client.js';
export * from './comet-client.js';
export * from './block-follower.js';
