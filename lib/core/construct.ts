// The token that lets shmkit's factories (create, open, at) run a constructor that users
// must not call: an object built any other way would skip the checks the factories make
// (a complete header, a payload of the right size, a placement inside the segment).

/** Passed by the factories to every constructor; not exported from the package. */
export const CONSTRUCT: unique symbol = Symbol('shmkit.construct');

/** Throws unless a factory is constructing `target` (pass `new.target`). */
export function checkConstruct(token: unknown, target: Function): void {
  if (token === CONSTRUCT) return;
  const name = target.name;
  const factories = ['create', 'open', 'at'].filter((f) => typeof (target as unknown as Record<string, unknown>)[f] === 'function')
    .map((f) => `${name}.${f}()`);
  const list = factories.length > 1 ? `${factories.slice(0, -1).join(', ')} or ${factories.at(-1)}` : factories[0] ?? 'its factories';
  throw new TypeError(`${name} cannot be constructed directly: use ${list}`);
}
