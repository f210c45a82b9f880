/** A port free on 127.0.0.1 at the moment of asking (nothing listens on it). */
export { freePort } from '../../core/redis/local-server.js';
