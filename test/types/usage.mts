// Compiled (not run) by 80-packaging.test.mjs: the published types describe the API.
import { SharedMemory, type CreateOptions, type SystemError } from 'shmkit';

const options: CreateOptions = { size: 4096, mode: 0o600, unlinkOnExit: true };
const shm: SharedMemory = SharedMemory.create(options);
const bytes: Uint8Array = new Uint8Array(shm.buffer);
const part: ArrayBuffer = shm.view(0, 16);
const copy: Buffer = shm.read(0, 4);
const written: number = shm.write(0, bytes.subarray(0, 4));
const flags: [string, number, boolean, boolean] = [shm.name, shm.size, shm.readOnly, shm.closed];
shm[Symbol.dispose]();
try {
  SharedMemory.open('missing', { readOnly: true });
} catch (error) {
  const e = error as SystemError;
  const fields: [string, number, string, string] = [e.code, e.errno, e.syscall, e.path];
  void fields;
}
// @ts-expect-error size is required
SharedMemory.create({ name: 'x' });
// @ts-expect-error readOnly is a boolean
SharedMemory.open('x', { readOnly: 'yes' });
void [part, copy, written, flags, SharedMemory.exists('x')];
