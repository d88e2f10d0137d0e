/**
 * shmkit: named shared memory and cross-process synchronization for unrelated Node.js
 * processes. See docs/api.md.
 * @packageDocumentation
 */
export { SharedMemory, type CreateOptions, type OpenOptions } from './shared-memory.js';
export { Lock, RLock, type LockOptions, type AcquireOptions, type AcquireAsyncOptions } from './lock.js';
export { Semaphore, BoundedSemaphore, type SemaphoreOptions } from './semaphore.js';
export { Event } from './event.js';
export { NamedSemaphore, type NamedSemaphoreOptions } from './named-semaphore.js';
export { Condition, type ConditionOptions } from './condition.js';
export { Queue, type QueueOptions, type QueueCodec, type QueueMessage } from './queue.js';
export { Pipe, type PipeOptions } from './pipe.js';
export { Barrier, type BarrierOptions, type BarrierLocalOptions } from './barrier.js';
export { Value, type ValueOptions } from './value.js';
export { SharedArray, type SharedArrayOptions, type ArrayOf } from './shared-array.js';
export { ShareableList, type ShareableValue, type TaggedNumber, type ShareableListOptions, type ShareableListOpenOptions, type TrailingNulPolicy } from './shareable-list.js';
export { Scope, type ScopedObject } from './scope.js';
export { wait, waitAsync, notify, waitBackend, type WaitResult, type WaitAsyncOptions } from './wait.js';
export type { ValueType, TypeCode, JsValueOf } from './value-types.js';
export type { CodedError, SystemError } from './errors.js';
