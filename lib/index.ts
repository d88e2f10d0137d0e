/**
 * shmkit: named shared memory and cross-process synchronization for unrelated Node.js
 * processes. See docs/api.md.
 * @packageDocumentation
 */
export { SharedMemory, type CreateOptions, type OpenOptions } from './shared-memory.js';
export type { CodedError, SystemError } from './errors.js';
