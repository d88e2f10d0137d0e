/**
 * shmkit: named shared memory and cross-process synchronization for unrelated Node.js
 * processes. See docs/api.md.
 * @packageDocumentation
 */
export { SharedMemory, type CreateOptions, type OpenOptions } from './core/shared-memory.js';
export { Lock, RLock, type LockOptions } from './sync/lock.js';
export type { AcquireOptions, AcquireAsyncOptions } from './core/validate.js';
export { Semaphore, BoundedSemaphore, type SemaphoreOptions } from './sync/semaphore.js';
export { Event } from './sync/event.js';
export { NamedSemaphore, type NamedSemaphoreOptions } from './sync/named-semaphore.js';
export { Condition, type ConditionOptions } from './sync/condition.js';
export { Queue, type QueueOptions, type QueueCodec, type QueueMessage } from './channels/queue.js';
export { Pipe, type PipeOptions } from './channels/pipe.js';
export { Manager, type ManagerServer, type ManagerProxy, type ManagerConnectOptions } from './channels/manager.js';
export { Barrier, type BarrierOptions, type BarrierLocalOptions } from './sync/barrier.js';
export { Value, type ValueOptions } from './data/value.js';
export { SharedArray, type SharedArrayOptions, type ArrayOf } from './data/shared-array.js';
export { ShareableList, type ShareableValue, type TaggedNumber, type ShareableListOptions, type ShareableListOpenOptions, type TrailingNulPolicy } from './data/shareable-list.js';
export { SharedMap, type SharedMapOptions, type SharedMapOpenOptions, type SharedMapSetOptions, type SharedMapValue } from './data/shared-map.js';
export { Scope, type ScopedObject } from './scope.js';
export { wait, waitAsync, notify, waitBackend, type WaitResult, type WaitAsyncOptions } from './core/wait.js';
export type { ValueType, TypeCode, JsValueOf } from './data/value-types.js';
export type { CodedError, SystemError } from './core/errors.js';
