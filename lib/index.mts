// The ESM entry point. It re-exports the CommonJS build rather than being a second copy
// of the library, so a program that mixes import and require() still has one registry
// of unlinkOnExit names, one table of pending waits, one registry of kinds and one loaded
// addon. Node finds the CommonJS build's names statically (cjs-module-lexer), so the
// list is index.ts's and is written nowhere else.
export * from './index.js';
