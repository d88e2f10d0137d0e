// The ESM entry point. It re-exports the CommonJS build rather than being a second copy
// of the library, so a program that mixes import and require() still has one registry
// of unlinkOnExit names, one table of pending waits and one loaded addon.
export {
  SharedMemory, Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, Queue, Pipe, NamedSemaphore,
  Value, SharedArray, ShareableList, Scope, wait, waitAsync, notify, waitBackend, type ScopedObject,
  type NamedSemaphoreOptions, type PipeOptions, type QueueOptions, type QueueCodec, type QueueMessage, type SemaphoreOptions, type ConditionOptions, type BarrierOptions, type BarrierLocalOptions,
  type CreateOptions, type OpenOptions, type LockOptions, type AcquireOptions, type AcquireAsyncOptions,
  type ValueOptions, type SharedArrayOptions, type ArrayOf, type WaitResult, type WaitAsyncOptions,
  type ShareableValue, type TaggedNumber, type ShareableListOptions, type ShareableListOpenOptions, type TrailingNulPolicy,
  type ValueType, type TypeCode, type JsValueOf, type CodedError, type SystemError,
} from './index.js';
