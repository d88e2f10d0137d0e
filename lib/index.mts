// The ESM entry point. It re-exports the CommonJS build rather than being a second copy
// of the library, so a program that mixes import and require() still has one registry
// of unlinkOnExit names and one loaded addon.
export { SharedMemory, type CreateOptions, type OpenOptions, type CodedError, type SystemError } from './index.js';
