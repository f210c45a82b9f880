export * from './schema.js';
export * from './problems.js';
export * from './load.js';
export { parseHostPort, type HostPort } from './host-port.js';
export { interpolateEnv } from './env.js';
export { validateAgainst, createAjv } from './validator.js';
