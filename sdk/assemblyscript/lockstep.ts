// lockstep.ts — guest SDK for Lockstep agents written in AssemblyScript
// (ABI v1; the contract is sdk/ABI.md, the API mirrors sdk/c/lockstep.h).
//
// An agent is a class extending Agent, registered from the entry file's top
// level; the entry file must also re-export the six ABI functions (asc only
// exports what the entry file exports):
//
//   import { Agent, Context, Message, register, publishString, OK } from "../../../sdk/assemblyscript/lockstep";
//   export { lockstep_abi_version, agent_alloc, agent_init, agent_receive, agent_step, agent_shutdown }
//     from "../../../sdk/assemblyscript/lockstep";
//
//   class Hello extends Agent {
//     step(ctx: Context): i32 { return publishString("hello", "world"); }
//   }
//   register(new Hello());
//
// Build (sdk/assemblyscript/build.sh does this, from the repository root):
//
//   asc agent.ts -o agent.wasm -O3 --noAssert --debug --runtime minimal \
//     --exportStart _initialize --use abort=sdk/assemblyscript/lockstep/lockstepAbortLog
//
// * `--use abort=…/lockstepAbortLog` is required: AssemblyScript otherwise
//   imports `env.abort`, and the host refuses every import outside module
//   "lockstep". The path is the SDK's internal path as asc sees it (relative
//   to the directory asc runs in, without ".ts") followed by the function.
//   lockstepAbortLog (build.sh's default) logs the message first (import
//   lockstep.log: grant `log`), and the host shows it in the failure's
//   reason; lockstepAbort only traps and imports nothing.
// * Do not call Math.random, Date.now, trace or console: they import from
//   "env" (the load fails naming the import). Use random() and tick().
// * `--exportStart _initialize` runs the top level (register()) from the
//   ABI's optional `_initialize` export; without it the same code runs from
//   the wasm start section. Both work.
//
// Runtime. `--runtime minimal` (TLSF allocator, a mark-and-sweep collector
// that only runs when called) is the recommended one: the SDK calls
// __collect() after agent_init and after every agent_step, when no managed
// reference is live on the wasm stack, so garbage made in one tick is freed
// at its end and memory stays bounded. `incremental` (the asc default) also
// works — it collects by itself during allocations, at the price of a shadow
// stack and larger code — and the SDK then leaves it alone. `stub` never
// frees: fine for an agent that allocates nothing per tick, otherwise it
// runs into the page limit. Whatever the runtime, the memory the host writes
// contexts and messages into comes from heap.alloc (agent_alloc below), never
// from a raw memory.grow: the AssemblyScript allocators assume they own every
// page above __heap_base.
//
// Wrappers take AssemblyScript strings (UTF-16) and encode them to UTF-8
// into an SDK scratch buffer; payloads are Uint8Array. Every function that
// returns i32 returns an ABI code (OK, ERR_*), stateRead and configInto a
// length >= 0 or a code, infer a request number >= 0 or a code. An agent
// reads its topology config: with configString() or config().

// ------------------------------------------------------------- codes -----

export const ABI_VERSION: i32 = 1;

export const OK: i32 = 0;
/** Agent id, channel or region name is not 1-128 bytes of [A-Za-z0-9._-/:]. */
export const ERR_INVALID_NAME: i32 = -1;
/** Payload over the host's message size limit (or a tensor list overflow). */
export const ERR_TOO_LARGE: i32 = -2;
/** A (ptr, len) pair points outside memory. */
export const ERR_OUT_OF_BOUNDS: i32 = -3;
/** No such state region (or no such result output). */
export const ERR_NOT_FOUND: i32 = -4;
/** The host does not offer this (yet). */
export const ERR_UNAVAILABLE: i32 = -6;
/** The agent lacks the capability. */
export const ERR_DENIED: i32 = -7;
// Statuses of inference results, besides the above:
export const ERR_UNKNOWN_MODEL: i32 = -10;
export const ERR_UNKNOWN_VERSION: i32 = -11;
export const ERR_BAD_INPUT: i32 = -12;
export const ERR_LOAD_FAILED: i32 = -13;
export const ERR_RUN_FAILED: i32 = -14;

/** agent_init's return code when the entry file never called register(). */
export const ERR_NO_AGENT: i32 = 1;

// Tensor element types (ONNX TensorProto.DataType numbers).
export const F32: u8 = 1;
export const U8: u8 = 2;
export const I8: u8 = 3;
export const U16: u8 = 4;
export const I16: u8 = 5;
export const I32: u8 = 6;
export const I64: u8 = 7;
/** Strings: see Tensor.str. */
export const STR: u8 = 8;
export const BOOL: u8 = 9;
/** IEEE half precision, 16 bits: see Tensor.f16. */
export const F16: u8 = 10;
export const F64: u8 = 11;
export const U32: u8 = 12;
export const U64: u8 = 13;
/** bfloat16, 16 bits (the top half of a float32): see Tensor.bf16. */
export const BF16: u8 = 16;

// Kinds of values in a tensor list (Tensor.kind).
/** A dense tensor. */
export const TENSOR: u8 = 0;
/** A sequence of values: Tensor.seqLength, Tensor.seqItem. */
export const SEQ: u8 = 1;
/** A map: Tensor.mapKeys, Tensor.mapValues. */
export const MAP: u8 = 2;

// Result flags.
/** The result comes from a non-deterministic model; replay feeds it back. */
export const RESULT_RECORDED: u32 = 1;
/** The result was computed in one run with other agents' requests. */
export const RESULT_BATCHED: u32 = 2;

// Log levels.
export const LOG_ERROR: i32 = 2;
export const LOG_WARN: i32 = 3;
export const LOG_INFO: i32 = 4;
export const LOG_DEBUG: i32 = 5;

/** The sender id of inference results. */
export const MODEL_SENDER = "@model";

const RESULT_MAGIC: u32 = 0x5249534c; // "LSIR"

// ------------------------------------------------------- raw imports -----
// Exactly sdk/ABI.md's imports: (ptr, len) pairs of UTF-8 bytes. asc emits
// an import only if it is called, so a module needs only the grants of what
// it uses (plus `log` with lockstepAbortLog, the default abort handler).

// @ts-ignore: decorator
@external("lockstep", "send")
export declare function lockstep_send(to: usize, toLen: usize, p: usize, pLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "publish")
export declare function lockstep_publish(ch: usize, chLen: usize, p: usize, pLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "join")
export declare function lockstep_join(ch: usize, chLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "leave")
export declare function lockstep_leave(ch: usize, chLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "log")
export declare function lockstep_log(level: i32, p: usize, len: usize): void;
// @ts-ignore: decorator
@external("lockstep", "tick")
export declare function lockstep_tick(): i64;
// @ts-ignore: decorator
@external("lockstep", "random")
export declare function lockstep_random(): i64;
// @ts-ignore: decorator
@external("lockstep", "state_write")
export declare function lockstep_state_write(name: usize, nameLen: usize, data: usize, dataLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "state_read")
export declare function lockstep_state_read(owner: usize, ownerLen: usize, name: usize, nameLen: usize, buf: usize, bufCap: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "infer")
export declare function lockstep_infer(model: usize, modelLen: usize, version: usize, versionLen: usize, input: usize, inputLen: usize): i32;
// @ts-ignore: decorator
@external("lockstep", "config")
export declare function lockstep_config(buf: usize, cap: usize): i32;

// ------------------------------------------------- UTF-8 scratch ---------
// Strings handed to the host are encoded into one grow-only unmanaged
// buffer, reused by every call (no garbage per call).

let strBuf: usize = 0;
let strCap: usize = 0;

/** Returns the scratch buffer with room for at least n bytes. */
function strReserve(n: usize): usize {
  if (n > strCap) {
    if (strBuf != 0) heap.free(strBuf);
    let cap = max<usize>(max<usize>(n, strCap << 1), 256);
    strBuf = heap.alloc(cap);
    strCap = cap;
  }
  return strBuf;
}

/** Encodes s as UTF-8 at buf (room for 3 bytes per UTF-16 unit); returns its length. */
// @ts-ignore: decorator
@inline function utf8At(s: string, buf: usize): usize {
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, buf);
}

/** True if the n bytes at p are the UTF-8 encoding of s. */
export function bytesEqual(p: usize, n: usize, s: string): bool {
  let buf = strReserve(<usize>s.length * 3);
  let m = utf8At(s, buf);
  return m == n && memory.compare(p, buf, n) == 0;
}

// ----------------------------------------------- little-endian helpers ---
// wasm is little-endian and allows unaligned loads: these are plain loads.

export function getU64le(p: usize): u64 { return load<u64>(p); }
export function putU64le(p: usize, v: u64): void { store<u64>(p, v); }
export function getU32le(p: usize): u32 { return load<u32>(p); }
export function putU32le(p: usize, v: u32): void { store<u32>(p, v); }

/** A new 8-byte Uint8Array holding v as a little-endian u64. */
export function u64Bytes(v: u64): Uint8Array {
  let b = new Uint8Array(8);
  store<u64>(b.dataStart, v);
  return b;
}

/** Reads a little-endian u64 at byte offset off of b (0 if it does not fit). */
export function readU64(b: Uint8Array, off: i32 = 0): u64 {
  if (off < 0 || off + 8 > b.length) return 0;
  return load<u64>(b.dataStart + <usize>off);
}

// ------------------------------------------------ context and message ----

/**
 * The context at ctx_ptr (24 bytes), a view of host-written memory: valid
 * only during agent_step.
 */
@unmanaged
export class Context {
  /** The current tick. */
  tick: u64;
  selfPtr: u32;
  selfLen: u32;
  /** The number of messages received this tick. */
  delivered: u32;
  reserved: u32;

  /** The agent's own id. */
  self(): string { return String.UTF8.decodeUnsafe(<usize>this.selfPtr, <usize>this.selfLen); }
  /** True if the agent's id is s (no allocation). */
  selfIs(s: string): bool { return bytesEqual(<usize>this.selfPtr, <usize>this.selfLen, s); }
}

/**
 * The message at msg_ptr (32-byte header; its bytes follow it), a view of
 * host-written memory: valid only during agent_receive. Copy what you keep
 * (payload() copies).
 */
@unmanaged
export class Message {
  /** The tick at which it was sent. */
  sent: u64;
  fromPtr: u32;
  /** 0 for an external input. */
  fromLen: u32;
  channelPtr: u32;
  /** 0 for a direct send. */
  channelLen: u32;
  payloadPtr: u32;
  payloadLen: u32;

  /** The sender's id ("" for an external input). */
  sender(): string { return String.UTF8.decodeUnsafe(<usize>this.fromPtr, <usize>this.fromLen); }
  /** True if the sender is s (no allocation). */
  senderIs(s: string): bool { return bytesEqual(<usize>this.fromPtr, <usize>this.fromLen, s); }
  /** The channel ("" for a direct send). */
  channel(): string { return String.UTF8.decodeUnsafe(<usize>this.channelPtr, <usize>this.channelLen); }
  /** True if the message came on channel s (no allocation). */
  channelIs(s: string): bool { return bytesEqual(<usize>this.channelPtr, <usize>this.channelLen, s); }
  /** True for a direct send (no channel). */
  isDirect(): bool { return this.channelLen == 0; }
  /** True for an external input (no sender). */
  isExternal(): bool { return this.fromLen == 0; }
  /** True for an inference result (the sender is "@model"). */
  isResult(): bool { return this.senderIs(MODEL_SENDER); }

  /** A copy of the payload. */
  payload(): Uint8Array {
    let b = new Uint8Array(<i32>this.payloadLen);
    memory.copy(b.dataStart, <usize>this.payloadPtr, <usize>this.payloadLen);
    return b;
  }
  /** The payload decoded as UTF-8. */
  payloadString(): string { return String.UTF8.decodeUnsafe(<usize>this.payloadPtr, <usize>this.payloadLen); }
  /** The little-endian u64 at byte offset off of the payload (0 if it does not fit). */
  payloadU64(off: u32 = 0): u64 {
    if (<u64>off + 8 > <u64>this.payloadLen) return 0;
    return load<u64>(<usize>this.payloadPtr + <usize>off);
  }

  /** The inference result this message carries, or null if it is not one. */
  result(): InferenceResult | null {
    let p = <usize>this.payloadPtr;
    if (!this.isResult() || this.payloadLen < 16 || load<u32>(p) != RESULT_MAGIC) return null;
    let r = new InferenceResult();
    r.request = load<u32>(p, 4);
    r.status = load<i32>(p, 8);
    r.flags = load<u32>(p, 12);
    r.bodyPtr = p + 16;
    r.bodyLen = this.payloadLen - 16;
    return r;
  }
}

// ----------------------------------------------------------- wrappers ----

/** Sends payload to agent `to`, delivered next tick (grant messaging.send). */
export function send(to: string, payload: Uint8Array): i32 {
  let b = strReserve(<usize>to.length * 3);
  return lockstep_send(b, utf8At(to, b), payload.dataStart, payload.byteLength);
}
export function sendString(to: string, s: string): i32 {
  let b = strReserve((<usize>to.length + <usize>s.length) * 3);
  let n = utf8At(to, b);
  return lockstep_send(b, n, b + n, utf8At(s, b + n));
}
/** Sends payload to the sender of msg (ERR_INVALID_NAME for an external input). */
export function reply(msg: Message, payload: Uint8Array): i32 {
  return lockstep_send(<usize>msg.fromPtr, <usize>msg.fromLen, payload.dataStart, payload.byteLength);
}
/** Publishes payload to every member of channel ch but the sender (grant messaging.publish). */
export function publish(ch: string, payload: Uint8Array): i32 {
  let b = strReserve(<usize>ch.length * 3);
  return lockstep_publish(b, utf8At(ch, b), payload.dataStart, payload.byteLength);
}
export function publishString(ch: string, s: string): i32 {
  let b = strReserve((<usize>ch.length + <usize>s.length) * 3);
  let n = utf8At(ch, b);
  return lockstep_publish(b, n, b + n, utf8At(s, b + n));
}
/** Joins channel ch from the next tick (grant channels). */
export function join(ch: string): i32 {
  let b = strReserve(<usize>ch.length * 3);
  return lockstep_join(b, utf8At(ch, b));
}
/** Leaves channel ch from the next tick (grant channels). */
export function leave(ch: string): i32 {
  let b = strReserve(<usize>ch.length * 3);
  return lockstep_leave(b, utf8At(ch, b));
}

/** Writes a log line at level (LOG_ERROR ... LOG_DEBUG) (grant log). */
export function log(level: i32, s: string): void {
  let b = strReserve(<usize>s.length * 3);
  lockstep_log(level, b, utf8At(s, b));
}
export function error(s: string): void { log(LOG_ERROR, s); }
export function warn(s: string): void { log(LOG_WARN, s); }
export function info(s: string): void { log(LOG_INFO, s); }
export function debug(s: string): void { log(LOG_DEBUG, s); }

/** The current tick (needs no grant). */
export function tick(): u64 { return <u64>lockstep_tick(); }
/** The next value of the agent's seeded random stream (grant random). */
export function random(): u64 { return <u64>lockstep_random(); }

/** Writes this agent's state region `name`, visible from the next tick (grant state.write). */
export function stateWrite(name: string, data: Uint8Array): i32 {
  let b = strReserve(<usize>name.length * 3);
  return lockstep_state_write(b, utf8At(name, b), data.dataStart, data.byteLength);
}
/**
 * Copies owner's frozen previous-tick region `name` into buf if it fits;
 * returns its full length (> buf.length: nothing copied) or an ERR_* code
 * (grant state.read).
 */
export function stateRead(owner: string, name: string, buf: Uint8Array): i32 {
  let b = strReserve((<usize>owner.length + <usize>name.length) * 3);
  let n = utf8At(owner, b);
  return lockstep_state_read(b, n, b + n, utf8At(name, b + n), buf.dataStart, buf.byteLength);
}
/** Owner's region `name` as a new array, or null (absent or unreadable: see stateRead for the code). */
export function stateReadAll(owner: string, name: string): Uint8Array | null {
  let buf = new Uint8Array(64);
  let n = stateRead(owner, name, buf);
  if (n > buf.length) {
    buf = new Uint8Array(n);
    n = stateRead(owner, name, buf);
  }
  if (n < 0 || n > buf.length) return null;
  return buf.subarray(0, n);
}

/**
 * Copies the agent's config (sdk/ABI.md, "Config": its topology `config:`,
 * a string as is, anything else as JSON with sorted keys) into buf, its
 * first buf.length bytes if it is longer; returns its full length (>
 * buf.length: cut) or an ERR_* code (needs no grant).
 */
export function configInto(buf: Uint8Array): i32 {
  return lockstep_config(buf.dataStart, buf.byteLength);
}
/** The agent's config as a new ArrayBuffer (empty without one; needs no grant). */
export function config(): ArrayBuffer {
  let n = lockstep_config(0, 0);
  let b = new ArrayBuffer(max<i32>(n, 0));
  if (n > 0) lockstep_config(changetype<usize>(b), <usize>n);
  return b;
}
/** The agent's config decoded as UTF-8 (needs no grant). */
export function configString(): string { return String.UTF8.decode(config()); }

// ---------------------------------------------------------- inference ----

/**
 * A tensor list (sdk/ABI.md, "Tensor list") under construction: the input
 * of infer().
 *
 *   let in = new Tensors();
 *   in.f32([1, 4], x);            // x: Float32Array of 4 values
 *   let rc = infer("flowers", "", in);
 */
export class Tensors {
  buf: Uint8Array = new Uint8Array(64);
  len: i32 = 4;
  count: u32 = 0;

  /** Empties the list for reuse. */
  reset(): void { this.len = 4; this.count = 0; store<u32>(this.buf.dataStart, 0); }

  private reserve(n: i32): usize {
    let need = this.len + n;
    if (need > this.buf.length) {
      let nb = new Uint8Array(max(need, this.buf.length << 1));
      memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.len);
      this.buf = nb;
    }
    return this.buf.dataStart + <usize>this.len;
  }

  /**
   * Appends a tensor of dtype (F32 ...) with the given dims and nbytes of
   * row-major data at ptr. Returns OK or ERR_TOO_LARGE (rank over 8).
   */
  addRaw(dtype: u8, dims: i64[], data: usize, nbytes: u32): i32 {
    let rank = dims.length;
    if (rank > 8) return ERR_TOO_LARGE;
    let q = this.reserve(8 + 8 * rank + <i32>nbytes);
    store<u8>(q, dtype);
    store<u8>(q, <u8>rank, 1);
    store<u16>(q, 0, 2);
    store<u32>(q, nbytes, 4);
    for (let i = 0; i < rank; i++) store<i64>(q + 8 + 8 * <usize>i, unchecked(dims[i]));
    memory.copy(q + 8 + 8 * <usize>rank, data, <usize>nbytes);
    this.len += 8 + 8 * rank + <i32>nbytes;
    store<u32>(this.buf.dataStart, ++this.count);
    return OK;
  }
  f32(dims: i64[], v: Float32Array): i32 { return this.addRaw(F32, dims, v.dataStart, <u32>v.byteLength); }
  f64(dims: i64[], v: Float64Array): i32 { return this.addRaw(F64, dims, v.dataStart, <u32>v.byteLength); }
  i32(dims: i64[], v: Int32Array): i32 { return this.addRaw(I32, dims, v.dataStart, <u32>v.byteLength); }
  i64(dims: i64[], v: Int64Array): i32 { return this.addRaw(I64, dims, v.dataStart, <u32>v.byteLength); }
  u8(dims: i64[], v: Uint8Array): i32 { return this.addRaw(U8, dims, v.dataStart, <u32>v.byteLength); }
  /** Appends a float16 tensor of v rounded to halves (f32ToF16). */
  f16(dims: i64[], v: Float32Array): i32 {
    let h = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) h[i] = f32ToF16(v[i]);
    return this.addRaw(F16, dims, h.dataStart, <u32>h.byteLength);
  }
  /** Appends a string tensor (each string as UTF-8). */
  str(dims: i64[], v: string[]): i32 {
    let parts = new Array<ArrayBuffer>(v.length);
    let text = 0;
    for (let i = 0; i < v.length; i++) {
      parts[i] = String.UTF8.encode(v[i]);
      text += parts[i].byteLength;
    }
    let body = new Uint8Array(4 * v.length + text);
    let end = 0;
    for (let i = 0; i < v.length; i++) {
      let n = parts[i].byteLength;
      memory.copy(body.dataStart + <usize>(4 * v.length + end), changetype<usize>(parts[i]), <usize>n);
      end += n;
      store<u32>(body.dataStart + 4 * <usize>i, <u32>end);
    }
    return this.addRaw(STR, dims, body.dataStart, <u32>body.byteLength);
  }

  /** The encoded list (a view, valid until the next add). */
  bytes(): Uint8Array { return this.buf.subarray(0, this.len); }
}

/**
 * Asks the host's model manager to run model at version ("" for its default
 * version) on tensors. Returns the request's number (>= 0) or an ERR_* code
 * (ERR_DENIED without the inference capability). The result arrives at the
 * next tick as a message for which isResult() is true; result() reads it.
 */
export function infer(model: string, version: string, tensors: Tensors): i32 {
  return inferRaw(model, version, tensors.buf.dataStart, <usize>tensors.len);
}
/** infer() on an already encoded tensor list at (ptr, len). */
export function inferRaw(model: string, version: string, ptr: usize, len: usize): i32 {
  let b = strReserve((<usize>model.length + <usize>version.length) * 3);
  let n = utf8At(model, b);
  return lockstep_infer(b, n, b + n, utf8At(version, b + n), ptr, len);
}

/** Converts the bits of an IEEE half to the f32 of the same value. */
export function f16ToF32(h: u16): f32 {
  let sign = (<u32>h >> 15) << 31;
  let exp = (<u32>h >> 10) & 0x1f;
  let man = <u32>h & 0x3ff;
  let bits: u32;
  if (exp == 0x1f) bits = sign | 0x7f800000 | (man << 13);
  else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (man == 0) bits = sign;
  else {
    let e: u32 = 113;
    while ((man & 0x400) == 0) { man <<= 1; e--; }
    bits = sign | (e << 23) | ((man & 0x3ff) << 13);
  }
  return reinterpret<f32>(bits);
}

/** Rounds an f32 to the nearest IEEE half (ties to even, as ONNX Runtime's Cast does) and returns its bits. */
export function f32ToF16(f: f32): u16 {
  let b = reinterpret<u32>(f);
  let sign = <u16>(b >> 16) & 0x8000;
  let exp = <i32>((b >> 23) & 0xff);
  let man = b & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (man != 0 ? 0x200 | <u16>(man >> 13) : 0);
  let e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    man |= 0x800000;
    let shift = <u32>(14 - e);
    let half = man >> shift;
    let rem = man & ((1 << shift) - 1);
    let mid: u32 = 1 << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1) == 1)) half++;
    return sign | <u16>half;
  }
  let h = (<u32>e << 10) | (man >> 13);
  let rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1)) h++;
  return sign | <u16>h;
}

/** Converts the bits of a bfloat16 to its f32. */
export function bf16ToF32(h: u16): f32 { return reinterpret<f32>(<u32>h << 16); }

/** Reads the value at p (len bytes left) into a Tensor; null if it does not fit. */
function valueAt(p: usize, len: u64): Tensor | null {
  if (len < 8) return null;
  let rank = <u32>load<u8>(p, 1);
  let nbytes = load<u32>(p, 4);
  if (rank > 8 || 8 + 8 * <u64>rank + <u64>nbytes > len) return null;
  let t = new Tensor();
  t.dtype = load<u8>(p);
  t.kind = load<u8>(p, 2);
  t.rank = rank;
  t.dimsPtr = p + 8;
  t.dataPtr = p + 8 + 8 * <usize>rank;
  t.nbytes = nbytes;
  return t;
}

/** Value i of the value list at p (len bytes), or null. */
function listItem(p: usize, len: u64, i: u32): Tensor | null {
  let n = len >= 4 ? load<u32>(p) : 0;
  let off: u64 = 4;
  for (let k: u32 = 0; k < n; k++) {
    let t = valueAt(p + <usize>off, len - off);
    if (t == null) return null;
    if (k == i) return t;
    off += t.size();
  }
  return null;
}

/**
 * A value inside a result: a dense tensor, or (kind SEQ, MAP) a sequence or
 * map. Pointers into the message (valid only during agent_receive),
 * possibly unaligned; read with the accessors.
 */
export class Tensor {
  dtype: u8 = 0;
  /** TENSOR, SEQ or MAP. */
  kind: u8 = TENSOR;
  rank: u32 = 0;
  dimsPtr: usize = 0;
  dataPtr: usize = 0;
  nbytes: u32 = 0;

  /** The size of the value's encoding. */
  size(): u64 { return 8 + 8 * <u64>this.rank + <u64>this.nbytes; }
  dim(i: u32): i64 { return i < this.rank ? load<i64>(this.dimsPtr + 8 * <usize>i) : 0; }
  /** Element i as f32 (the tensor must be F32; out of range: NaN). */
  f32(i: u32): f32 { return <u64>i * 4 + 4 <= <u64>this.nbytes ? load<f32>(this.dataPtr + 4 * <usize>i) : NaN; }
  f64(i: u32): f64 { return <u64>i * 8 + 8 <= <u64>this.nbytes ? load<f64>(this.dataPtr + 8 * <usize>i) : NaN; }
  i32(i: u32): i32 { return <u64>i * 4 + 4 <= <u64>this.nbytes ? load<i32>(this.dataPtr + 4 * <usize>i) : 0; }
  i64(i: u32): i64 { return <u64>i * 8 + 8 <= <u64>this.nbytes ? load<i64>(this.dataPtr + 8 * <usize>i) : 0; }
  u8(i: u32): u8 { return i < this.nbytes ? load<u8>(this.dataPtr + <usize>i) : 0; }
  /** Element i of an F16 tensor, converted exactly to f32 (out of range: NaN). */
  f16(i: u32): f32 { return <u64>i * 2 + 2 <= <u64>this.nbytes ? f16ToF32(load<u16>(this.dataPtr + 2 * <usize>i)) : NaN; }
  /** Element i of a BF16 tensor, converted exactly to f32 (out of range: NaN). */
  bf16(i: u32): f32 { return <u64>i * 2 + 2 <= <u64>this.nbytes ? bf16ToF32(load<u16>(this.dataPtr + 2 * <usize>i)) : NaN; }
  /** The byte length of string element i of a STR tensor (0 if out of range). */
  strLength(i: u32): u32 {
    if (this.dtype != STR || <i64>i >= this.elements()) return 0;
    let start = i == 0 ? 0 : load<u32>(this.dataPtr + 4 * <usize>(i - 1));
    return load<u32>(this.dataPtr + 4 * <usize>i) - start;
  }
  /** String element i of a STR tensor, decoded as UTF-8 ("" if out of range). */
  str(i: u32): string {
    if (this.dtype != STR || <i64>i >= this.elements()) return "";
    let n = <usize>this.elements();
    let start = i == 0 ? 0 : load<u32>(this.dataPtr + 4 * <usize>(i - 1));
    return String.UTF8.decodeUnsafe(this.dataPtr + 4 * n + <usize>start, <usize>this.strLength(i));
  }
  /** The number of elements (the product of the dims). */
  elements(): i64 {
    let n: i64 = 1;
    for (let i: u32 = 0; i < this.rank; i++) n *= this.dim(i);
    return n;
  }
  /** A copy of the data as a Float32Array (for an F32 tensor). */
  toF32(): Float32Array {
    let a = new Float32Array(<i32>(this.nbytes / 4));
    memory.copy(a.dataStart, this.dataPtr, <usize>a.byteLength);
    return a;
  }
  /** The number of values of a sequence (0 if this is not one). */
  seqLength(): u32 { return this.kind == SEQ && this.nbytes >= 4 ? load<u32>(this.dataPtr) : 0; }
  /** Value i of a sequence, or null. */
  seqItem(i: u32): Tensor | null { return this.kind == SEQ ? listItem(this.dataPtr, <u64>this.nbytes, i) : null; }
  /** A map's keys (a rank-1 tensor of integers or strings), or null. */
  mapKeys(): Tensor | null { return this.kind == MAP ? valueAt(this.dataPtr, <u64>this.nbytes) : null; }
  /** A map's values (a rank-1 tensor as long as its keys), or null. */
  mapValues(): Tensor | null {
    let k = this.mapKeys();
    if (k == null) return null;
    return valueAt(this.dataPtr + <usize>k.size(), <u64>this.nbytes - k.size());
  }
  /** The number of entries of a map (0 if this is not one). */
  mapLength(): u32 {
    let k = this.mapKeys();
    return k == null ? 0 : <u32>k.elements();
  }
}

/** An inference result (sdk/ABI.md, "Result"); from Message.result(). */
export class InferenceResult {
  /** The number infer() returned. */
  request: u32 = 0;
  /** OK or an ERR_* code. */
  status: i32 = 0;
  /** RESULT_RECORDED | RESULT_BATCHED. */
  flags: u32 = 0;
  /** Status OK: the output value list; otherwise the error text. */
  bodyPtr: usize = 0;
  bodyLen: u32 = 0;

  ok(): bool { return this.status == OK; }
  /** The error text of a failed result ("" for a successful one). */
  errorText(): string { return this.status == OK ? "" : String.UTF8.decodeUnsafe(this.bodyPtr, <usize>this.bodyLen); }
  /** The number of outputs (0 for a failed result). */
  count(): u32 { return this.status == OK && this.bodyLen >= 4 ? load<u32>(this.bodyPtr) : 0; }
  /** Output i (a dense tensor, sequence or map), or null if there is none (or the list is malformed). */
  output(i: u32): Tensor | null { return this.status == OK ? listItem(this.bodyPtr, <u64>this.bodyLen, i) : null; }
}

// -------------------------------------------------------------- agent ----

/**
 * Base class of agents: override the hooks you need. A hook returns OK (0)
 * for success; any other value is a failure of the agent at that tick. A
 * trap (abort, unreachable, out-of-bounds access) is a failure too; the
 * supervisor restarts the agent with a fresh instance (the top level and
 * register() run again, then init()).
 */
export abstract class Agent {
  /** Once per incarnation, before the first receive/step (no context; tick() works). */
  init(): i32 { return OK; }
  /** Once per message delivered this tick, in canonical order. */
  receive(msg: Message): i32 { return OK; }
  /** Once per tick, after the tick's messages. */
  step(ctx: Context): i32 { return OK; }
  /** When the agent is stopped or the host closes; its effects are discarded. */
  shutdown(): i32 { return OK; }
}

let current: Agent | null = null;

/** Makes a the module's agent; call it once from the entry file's top level. */
export function register(a: Agent): void { current = a; }

/** Frees the tick's garbage under --runtime minimal (no-op otherwise: incremental collects by itself, stub never frees). */
// @ts-ignore: decorator
@inline function collect(): void {
  if (ASC_RUNTIME == 1) __collect();
}

// ------------------------------------------------------- ABI exports -----
// Re-export all six from the entry file (see the top of this file).

/** ABI export: the ABI version this SDK speaks (1). */
export function lockstep_abi_version(): i32 { return ABI_VERSION; }

let scratch: usize = 0;
let scratchCap: usize = 0;

/**
 * ABI export: a block of at least size writable bytes, 16-byte aligned,
 * valid until the next call. One grow-only buffer from heap.alloc (the
 * runtime's allocator; a raw memory.grow would collide with it). The host
 * never frees; a larger request frees the old buffer and allocates a new
 * one of at least twice the size. Returns 0 for a negative size.
 */
export function agent_alloc(size: i32): i32 {
  let n = <usize>size;
  if (size < 0) return 0;
  if (n <= scratchCap && scratch != 0) return <i32>scratch;
  let cap = max<usize>(max<usize>(n, scratchCap << 1), 256);
  // Out of memory (the page limit), the allocator traps: the host reports
  // agent_alloc failing, a failure of the agent at that tick.
  if (scratch != 0) heap.free(scratch);
  scratch = heap.alloc(cap);
  scratchCap = cap;
  return <i32>scratch;
}

/** ABI export: runs Agent.init. */
export function agent_init(): i32 {
  let a = current;
  if (a === null) return ERR_NO_AGENT;
  let rc = a.init();
  collect();
  return rc;
}

/** ABI export: runs Agent.receive on the message at msgPtr. */
export function agent_receive(msgPtr: i32): i32 {
  let a = current;
  if (a === null) return ERR_NO_AGENT;
  return a.receive(changetype<Message>(<usize>msgPtr));
}

/** ABI export: runs Agent.step with the context at ctxPtr, then frees the tick's garbage. */
export function agent_step(ctxPtr: i32): i32 {
  let a = current;
  if (a === null) return ERR_NO_AGENT;
  let rc = a.step(changetype<Context>(<usize>ctxPtr));
  collect();
  return rc;
}

/** ABI export: runs Agent.shutdown. */
export function agent_shutdown(): i32 {
  let a = current;
  if (a === null) return OK;
  return a.shutdown();
}

// -------------------------------------------------------------- abort ----
// Targets of asc's `--use abort=sdk/assemblyscript/lockstep/<name>`.
//
// AssemblyScript calls abort on a failed assert, a throw, an out-of-range
// index, a null dereference and when memory runs out. It cannot unwind, so
// both handlers trap: the agent fails at that tick ("agent_step: wasm
// error: unreachable") and its supervisor restarts or stops it.

/**
 * Traps, imports nothing (LOCKSTEP_AS_ABORT=lockstepAbort): for modules
 * without the `log` grant. The failure detail does not carry
 * AssemblyScript's message; the log shows the failure's stack trace.
 */
export function lockstepAbort(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  unreachable();
}

const ABORT_CAP: usize = 512;
const abortBuf: usize = memory.data(512);
let abortLen: usize = 0;

function abortPut(p: usize, n: usize): void {
  let m = min<usize>(n, ABORT_CAP - abortLen);
  memory.copy(abortBuf + abortLen, p, m);
  abortLen += m;
}
function abortStr(s: string | null): void {
  if (s === null) return;
  // Encode without allocating: the abort may be an out-of-memory one.
  let len = s.length;
  for (let i = 0; i < len && abortLen < ABORT_CAP; i++) {
    let c = <u32>load<u16>(changetype<usize>(s) + (<usize>i << 1));
    store<u8>(abortBuf + abortLen++, c < 0x80 ? <u8>c : 0x3f); // non-ASCII as '?'
  }
}
function abortNum(v: u32): void {
  let d = memory.data(10);
  let n: usize = 0;
  do {
    store<u8>(d + n++, <u8>(0x30 + v % 10));
    v /= 10;
  } while (v != 0);
  while (n > 0 && abortLen < ABORT_CAP) store<u8>(abortBuf + abortLen++, load<u8>(d + --n));
}

/**
 * The default (build.sh's). Logs "abort: MESSAGE at FILE:LINE:COL" at
 * error level, then traps (the
 * module imports lockstep.log: grant log). The host drops a failed tick's
 * actions, but keeps its last error or warning log line in the failure's
 * reason: this message is what the supervisor's "failed" event shows.
 */
export function lockstepAbortLog(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  abortLen = 0;
  let pre = memory.data<u8>([0x61, 0x62, 0x6f, 0x72, 0x74, 0x3a, 0x20]); // "abort: "
  abortPut(pre, 7);
  abortStr(message);
  if (fileName !== null) {
    let at = memory.data<u8>([0x20, 0x61, 0x74, 0x20]); // " at "
    abortPut(at, 4);
    abortStr(fileName);
    let colon = memory.data<u8>([0x3a]);
    abortPut(colon, 1);
    abortNum(lineNumber);
    abortPut(colon, 1);
    abortNum(columnNumber);
  }
  lockstep_log(LOG_ERROR, abortBuf, abortLen);
  unreachable();
}
