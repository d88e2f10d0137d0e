// unlinkOnExit (and Scope): names this process created and asked to remove when it ends.
// Each is registered under a key (its namespace and name: segments and named semaphores
// are different objects with the same name on POSIX) with the function that removes it.
//
// On a normal exit (including process.exit() and an uncaught exception) the 'exit'
// event removes them. On SIGINT, SIGTERM and SIGHUP the default action would kill the
// process without an 'exit' event, so a listener is installed while any name is
// registered. If shmkit's listener is the only one, it removes the names and re-raises
// the signal with the default action, so the process still dies of that signal as its
// parent expects. If the application listens too, the application has taken charge of
// the signal: shmkit leaves the names alone until the process really exits.
// SIGKILL cannot be caught; names of a killed process stay until `shmkit gc` or an
// explicit unlink.
const registered = new Map<string, () => void>();
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function unlinkAll(): void {
  for (const unlink of [...registered.values()]) {
    try {
      unlink();
    } catch {
      // already gone (someone else unlinked it): nothing to do at exit
    }
  }
  registered.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  unlinkAll();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', unlinkAll);
  for (const s of signals) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', unlinkAll);
  for (const s of signals) process.off(s, onSignal);
}

/** The key of a segment's name (and of every typed object's, which is its segment's). */
export const segmentKey = (name: string): string => `segment:${name}`;
/** The key of a named semaphore's name. */
export const semaphoreKey = (name: string): string => `semaphore:${name}`;

/** Runs `unlink` when the process ends (once per key). */
export function unlinkOnExit(key: string, unlink: () => void): void {
  registered.set(key, unlink);
  install();
}

/** Called when a name is unlinked by hand: nothing left to do for it at exit. */
export function forget(key: string): void {
  if (registered.delete(key) && registered.size === 0) uninstall();
}
