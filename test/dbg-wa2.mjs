import { SharedMemory, waitAsync, wait, notify } from 'shmkit';
import { spawn } from 'node:child_process';
const [role, name, mode] = process.argv.slice(2);
if (role === 'peer') {
  const shm = SharedMemory.open(name); const w = new Int32Array(shm.buffer, 0, 2);
  for (let i = 1; i <= 2000; i++) {
    if (mode === 'sync') wait(w, 0, 2 * i - 2, 5000); else while (Atomics.load(w, 0) !== 2 * i - 1) await waitAsync(w, 0, 2 * i - 2, 5000);
    Atomics.store(w, 0, 2 * i); notify(w, 0, 1);
  }
  shm.close();
} else {
  for (const m of ['async', 'sync']) {
    const shm = SharedMemory.create({ name: 'dbg-wa2', size: 64 }); const w = new Int32Array(shm.buffer, 0, 2);
    const c = spawn(process.execPath, [process.argv[1], 'peer', 'dbg-wa2', m], { stdio: 'inherit' });
    await new Promise((r) => setTimeout(r, 300));
    const t = performance.now();
    for (let i = 1; i <= 2000; i++) {
      Atomics.store(w, 0, 2 * i - 1); notify(w, 0, 1);
      while (Atomics.load(w, 0) !== 2 * i) await waitAsync(w, 0, 2 * i - 1, 5000);
    }
    console.log(m, 'peer; async here: round trip µs', ((performance.now() - t) / 2000 * 1000).toFixed(1));
    await new Promise((r) => c.on('close', r)); shm.close(); shm.unlink();
  }
}
