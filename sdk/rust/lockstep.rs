//! Guest SDK for Lockstep agents written in Rust (ABI v1, see `sdk/ABI.md`).
//!
//! It is one dependency-free `#![no_std]` file that builds with plain rustc
//! (no cargo, no crates), for example Debian's 1.63:
//!
//! ```text
//! rustc --edition 2021 --target wasm32-unknown-unknown -C opt-level=2 -C panic=abort \
//!       --crate-type rlib --crate-name lockstep sdk/rust/lockstep.rs -o liblockstep.rlib
//! rustc --edition 2021 --target wasm32-unknown-unknown -C opt-level=2 -C panic=abort \
//!       -C lto -C codegen-units=1 -C link-arg=-zstack-size=65536 -C link-arg=--strip-debug \
//!       --crate-type cdylib --extern lockstep=liblockstep.rlib agent.rs -o agent.wasm
//! ```
//!
//! (`sdk/rust/build.sh` does exactly this for the examples.)
//!
//! An agent is a type implementing [`Agent`] (every hook has a default that
//! succeeds) and one [`lockstep_agent!`] line, which emits the ABI exports:
//!
//! ```ignore
//! #![no_std]
//! use lockstep::{Agent, Ctx, Msg};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Agent for Hello {
//!     fn step(&mut self, ctx: &Ctx) -> lockstep::Result {
//!         lockstep::publish("hello", &ctx.tick().to_le_bytes())
//!     }
//! }
//!
//! lockstep::lockstep_agent!(Hello);
//! ```
//!
//! Host calls are free functions ([`send`], [`publish`], [`join`], [`leave`],
//! [`log`], [`tick`], [`random`], [`state_write`], [`state_read`], [`infer`],
//! [`config`]),
//! usable from any hook, like the C SDK's `ls_*` functions (`sdk/c/lockstep.h`).
//! They return [`Result`]: `Err(Error)` carries the host's negative code.
//! A module imports from module `lockstep` only the host functions it calls
//! (the wrappers are `#[inline]`, and the linker drops unused imports), so its
//! grants need to cover only those: `log` needs capability `log`, `random`
//! needs `random`, `join`/`leave` need `channels`, and so on
//! (`wasmagent/plugin/capability.go`); `tick` and `config` need none.
//!
//! Config: an agent reads its topology `config:` with [`config_str`] (or
//! [`config`] and [`config_len`]) into a buffer of its own; with
//! `--cfg lockstep_std`, `config_vec` returns it as a `Vec<u8>`.
//!
//! Panics: the SDK's panic handler logs the panic at error level (its
//! message and location, "panicked at 'index out of bounds: …',
//! agent.rs:12:9", at most 256 bytes) and traps (`unreachable`), which the
//! host treats as a failure of the agent at that tick, like any trap; the
//! failure's reason quotes the line (the tick's last error log line). The
//! module then imports `lockstep.log`: grant it `log`. Build with
//! `-C panic=abort`. `--cfg lockstep_quiet_panic` makes the handler only trap
//! (no message, no `log` import, no `core::fmt` code). An agent that uses
//! `std` instead of `#![no_std]` must build this SDK with `--cfg
//! lockstep_std`, which leaves the panic handler to std and installs a panic
//! hook (`std::panic::set_hook`, at `agent_init`) that logs the same line.
//!
//! Memory: [`lockstep_agent!`]'s `agent_alloc` is one grow-only scratch
//! buffer on pages it takes with `memory.grow` (never from the data or the
//! stack), so it coexists with any allocator that also grows memory for its
//! pages, such as std's dlmalloc. Nothing here needs an allocator (but
//! `config_vec`, built only with `--cfg lockstep_std`).
#![no_std]
#![warn(missing_docs)]

#[cfg(lockstep_std)]
extern crate std;

use core::fmt;

/// The agent ABI version this SDK speaks; `lockstep_abi_version` returns it.
pub const ABI_VERSION: i32 = 1;

// ----------------------------------------------------------------- codes ---

/// A host return code other than 0 (OK), or an agent's own failure code.
///
/// Returned from a hook, `Err(Error(c))` makes the hook return `c`, a failure
/// of the agent at that tick ("agent_step returned c"); an `Error(0)` returns
/// 1 instead, so an error is never mistaken for success.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Error(pub i32);

impl Error {
    /// -1: an agent id, channel or region name is not 1-128 bytes of letters,
    /// digits and `._-/:`.
    pub const INVALID_NAME: Error = Error(-1);
    /// -2: payload over the host's message size limit (or a tensor list
    /// that does not fit its buffer).
    pub const TOO_LARGE: Error = Error(-2);
    /// -3: a (ptr, len) pair points outside memory.
    pub const OUT_OF_BOUNDS: Error = Error(-3);
    /// -4: no such state region (or no such output tensor).
    pub const NOT_FOUND: Error = Error(-4);
    /// -6: the host does not offer this (yet).
    pub const UNAVAILABLE: Error = Error(-6);
    /// -7: the agent lacks the capability.
    pub const DENIED: Error = Error(-7);
    /// -10 (inference status): no model with that id is declared.
    pub const UNKNOWN_MODEL: Error = Error(-10);
    /// -11 (inference status): no such version, or several and no default.
    pub const UNKNOWN_VERSION: Error = Error(-11);
    /// -12 (inference status): the input is not a tensor list or does not
    /// match the model; also: a message that is not an inference result.
    pub const BAD_INPUT: Error = Error(-12);
    /// -13 (inference status): the model file is missing, corrupt, not its
    /// sha256, or over the memory budget.
    pub const LOAD_FAILED: Error = Error(-13);
    /// -14 (inference status): ONNX Runtime failed to run the model.
    pub const RUN_FAILED: Error = Error(-14);

    /// The code as returned by the host.
    #[inline]
    pub fn code(self) -> i32 {
        self.0
    }

    /// The code's name ("INVALID_NAME", ...), or "" for another code.
    pub fn name(self) -> &'static str {
        match self.0 {
            -1 => "INVALID_NAME",
            -2 => "TOO_LARGE",
            -3 => "OUT_OF_BOUNDS",
            -4 => "NOT_FOUND",
            -6 => "UNAVAILABLE",
            -7 => "DENIED",
            -10 => "UNKNOWN_MODEL",
            -11 => "UNKNOWN_VERSION",
            -12 => "BAD_INPUT",
            -13 => "LOAD_FAILED",
            -14 => "RUN_FAILED",
            _ => "",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "" => write!(f, "lockstep: code {}", self.0),
            n => write!(f, "lockstep: {} ({})", n, self.0),
        }
    }
}

/// The result of a host call or a hook: `Ok` is the ABI's 0.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// Maps a host return code (0 OK, negative an error) to a [`Result`].
#[inline]
pub fn check(rc: i32) -> Result {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error(rc))
    }
}

/// The ABI return code of a hook's result (used by [`lockstep_agent!`]).
#[doc(hidden)]
#[inline]
pub fn hook_code(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(Error(0)) => 1,
        Err(Error(c)) => c,
    }
}

/// A log level (the ABI's numbers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum Level {
    /// 2
    Error = 2,
    /// 3
    Warn = 3,
    /// 4
    Info = 4,
    /// 5
    Debug = 5,
}

/// Tensor element types (ONNX `TensorProto.DataType` numbers).
pub mod dtype {
    /// float32
    pub const F32: u8 = 1;
    /// uint8
    pub const U8: u8 = 2;
    /// int8
    pub const I8: u8 = 3;
    /// uint16
    pub const U16: u8 = 4;
    /// int16
    pub const I16: u8 = 5;
    /// int32
    pub const I32: u8 = 6;
    /// int64
    pub const I64: u8 = 7;
    /// string (see [`Tensor::str_bytes`](super::Tensor::str_bytes))
    pub const STR: u8 = 8;
    /// bool (one byte)
    pub const BOOL: u8 = 9;
    /// IEEE half precision, 16 bits (see [`f16_to_f32`](super::f16_to_f32))
    pub const F16: u8 = 10;
    /// float64
    pub const F64: u8 = 11;
    /// uint32
    pub const U32: u8 = 12;
    /// uint64
    pub const U64: u8 = 13;
    /// bfloat16, 16 bits (the top half of a float32)
    pub const BF16: u8 = 16;
}

/// Kinds of values in a tensor list ([`Tensor::kind`]).
pub mod kind {
    /// A dense tensor.
    pub const TENSOR: u8 = 0;
    /// A sequence of values ([`Tensor::seq_len`](super::Tensor::seq_len), [`Tensor::seq_item`](super::Tensor::seq_item)).
    pub const SEQ: u8 = 1;
    /// A map ([`Tensor::map_keys`](super::Tensor::map_keys), [`Tensor::map_values`](super::Tensor::map_values)).
    pub const MAP: u8 = 2;
}

/// Converts the bits of an IEEE half to the float32 of the same value.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mut man = (h & 0x3ff) as u32;
    let bits = if exp == 0x1f {
        sign | 0x7f80_0000 | man << 13
    } else if exp != 0 {
        sign | (exp + 112) << 23 | man << 13
    } else if man == 0 {
        sign
    } else {
        let mut e = 113u32;
        while man & 0x400 == 0 {
            man <<= 1;
            e -= 1;
        }
        sign | e << 23 | (man & 0x3ff) << 13
    };
    f32::from_bits(bits)
}

/// Rounds a float32 to the nearest IEEE half (ties to even, as ONNX
/// Runtime's Cast does) and returns its bits.
pub fn f32_to_f16(f: f32) -> u16 {
    let b = f.to_bits();
    let sign = ((b >> 16) as u16) & 0x8000;
    let exp = ((b >> 23) & 0xff) as i32;
    let mut man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 | (man >> 13) as u16 } else { 0 };
    }
    let e = exp - 112;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        man |= 0x80_0000;
        let shift = (14 - e) as u32;
        let mut half = man >> shift;
        let rem = man & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        if rem > mid || (rem == mid && half & 1 == 1) {
            half += 1;
        }
        return sign | half as u16;
    }
    let mut h = (e as u32) << 10 | man >> 13;
    let rem = man & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    sign | h as u16
}

/// Converts the bits of a bfloat16 to its float32.
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Result flag: from a non-deterministic model; replay feeds it back.
pub const RESULT_RECORDED: u32 = 1;
/// Result flag: computed in one run with other agents' requests.
pub const RESULT_BATCHED: u32 = 2;
/// The sender id of inference results.
pub const MODEL_SENDER: &str = "@model";

// ------------------------------------------------------------ raw imports ---

/// The host functions of module `lockstep`, exactly as in `sdk/ABI.md`:
/// (pointer, length) pairs, integer return codes. Prefer the safe wrappers.
pub mod raw {
    #[link(wasm_import_module = "lockstep")]
    extern "C" {
        /// `send(to_ptr, to_len, p_ptr, p_len) -> i32`
        pub fn send(to: *const u8, to_len: usize, p: *const u8, p_len: usize) -> i32;
        /// `publish(ch_ptr, ch_len, p_ptr, p_len) -> i32`
        pub fn publish(ch: *const u8, ch_len: usize, p: *const u8, p_len: usize) -> i32;
        /// `join(ch_ptr, ch_len) -> i32`
        pub fn join(ch: *const u8, ch_len: usize) -> i32;
        /// `leave(ch_ptr, ch_len) -> i32`
        pub fn leave(ch: *const u8, ch_len: usize) -> i32;
        /// `log(level, ptr, len)`
        pub fn log(level: i32, p: *const u8, len: usize);
        /// `tick() -> i64`
        pub fn tick() -> i64;
        /// `random() -> i64`
        pub fn random() -> i64;
        /// `state_write(name_ptr, name_len, data_ptr, data_len) -> i32`
        pub fn state_write(name: *const u8, name_len: usize, data: *const u8, data_len: usize) -> i32;
        /// `state_read(owner_ptr, owner_len, name_ptr, name_len, buf_ptr, buf_cap) -> i32`
        pub fn state_read(
            owner: *const u8,
            owner_len: usize,
            name: *const u8,
            name_len: usize,
            buf: *mut u8,
            buf_cap: usize,
        ) -> i32;
        /// `infer(model_ptr, model_len, version_ptr, version_len, input_ptr, input_len) -> i32`
        pub fn infer(
            model: *const u8,
            model_len: usize,
            version: *const u8,
            version_len: usize,
            input: *const u8,
            input_len: usize,
        ) -> i32;
        /// `config(buf_ptr, cap) -> i32`
        pub fn config(buf: *mut u8, cap: usize) -> i32;
    }
}

// --------------------------------------------------------------- wrappers ---

/// Sends `payload` to agent `to`, delivered next tick. A send to an unknown
/// agent succeeds and becomes a dead letter. Capability `messaging.send`.
#[inline]
pub fn send(to: &str, payload: &[u8]) -> Result {
    check(unsafe { raw::send(to.as_ptr(), to.len(), payload.as_ptr(), payload.len()) })
}

/// Sends `payload` to the sender of `msg` (INVALID_NAME for an external
/// input, whose sender is empty). Capability `messaging.send`.
#[inline]
pub fn reply(msg: &Msg, payload: &[u8]) -> Result {
    let from = msg.from_bytes();
    check(unsafe { raw::send(from.as_ptr(), from.len(), payload.as_ptr(), payload.len()) })
}

/// Publishes `payload` to every member of channel `ch` (as of the start of
/// this tick) except this agent, delivered next tick. Capability
/// `messaging.publish`.
#[inline]
pub fn publish(ch: &str, payload: &[u8]) -> Result {
    check(unsafe { raw::publish(ch.as_ptr(), ch.len(), payload.as_ptr(), payload.len()) })
}

/// Joins channel `ch` from the next tick. Capability `channels`.
#[inline]
pub fn join(ch: &str) -> Result {
    check(unsafe { raw::join(ch.as_ptr(), ch.len()) })
}

/// Leaves channel `ch` from the next tick. Capability `channels`.
#[inline]
pub fn leave(ch: &str) -> Result {
    check(unsafe { raw::leave(ch.as_ptr(), ch.len()) })
}

/// Logs a line (bytes, UTF-8 expected). Capability `log`.
#[inline]
pub fn log_bytes(level: Level, line: &[u8]) {
    unsafe { raw::log(level as i32, line.as_ptr(), line.len()) }
}

/// Logs a line. Capability `log`.
#[inline]
pub fn log(level: Level, line: &str) {
    log_bytes(level, line.as_bytes())
}

/// Logs at error level. Capability `log`.
#[inline]
pub fn error(line: &str) {
    log(Level::Error, line)
}

/// Logs at warn level. Capability `log`.
#[inline]
pub fn warn(line: &str) {
    log(Level::Warn, line)
}

/// Logs at info level. Capability `log`.
#[inline]
pub fn info(line: &str) {
    log(Level::Info, line)
}

/// Logs at debug level. Capability `log`.
#[inline]
pub fn debug(line: &str) {
    log(Level::Debug, line)
}

/// Logs formatted text (`core::fmt`, truncated to 256 bytes); see also
/// [`logf!`]. It pulls in core's formatting code (some 10-20 KB of wasm):
/// [`Buf`]'s `push_*` methods do not. Capability `log`.
pub fn log_fmt(level: Level, args: fmt::Arguments<'_>) {
    let mut b = Buf::<256>::new();
    let _ = fmt::Write::write_fmt(&mut b, args);
    log_bytes(level, b.as_bytes());
}

/// `logf!(Level::Info, "x = {}", x)`: formatted logging through
/// [`log_fmt`].
#[macro_export]
macro_rules! logf {
    ($level:expr, $($arg:tt)*) => {
        $crate::log_fmt($level, ::core::format_args!($($arg)*))
    };
}

/// The current tick (works in every hook, `init` included). No capability.
#[inline]
pub fn tick() -> u64 {
    unsafe { raw::tick() as u64 }
}

/// The next value of this agent's random stream, seeded by the run's seed,
/// the agent's id and the tick: the same on every run and replay.
/// Capability `random`.
#[inline]
pub fn random() -> u64 {
    unsafe { raw::random() as u64 }
}

/// Writes this agent's state region `name` (readers see it from the next
/// tick). Capability `state.write`.
#[inline]
pub fn state_write(name: &str, data: &[u8]) -> Result {
    check(unsafe { raw::state_write(name.as_ptr(), name.len(), data.as_ptr(), data.len()) })
}

/// Reads `owner`'s region `name` as frozen at the previous tick into `buf`
/// if it fits, and returns its full length: a length over `buf.len()` means
/// nothing was copied (retry with a larger buffer). NOT_FOUND if there is no
/// such region. Capability `state.read`.
#[inline]
pub fn state_read(owner: &str, name: &str, buf: &mut [u8]) -> Result<usize> {
    let rc = unsafe {
        raw::state_read(owner.as_ptr(), owner.len(), name.as_ptr(), name.len(), buf.as_mut_ptr(), buf.len())
    };
    if rc < 0 {
        Err(Error(rc))
    } else {
        Ok(rc as usize)
    }
}

/// Asks the host's model manager to run `model` at `version` ("" for its
/// default version) on a tensor list (see [`Tensors`]). Returns the
/// request's number (its position among this agent's requests this tick);
/// the result arrives at the next tick as a message for which
/// [`Msg::is_result`] is true ([`Msg::result`] reads it). Capability
/// `inference` or `inference:MODEL` (DENIED otherwise).
#[inline]
pub fn infer(model: &str, version: &str, input: &[u8]) -> Result<u32> {
    let rc = unsafe {
        raw::infer(model.as_ptr(), model.len(), version.as_ptr(), version.len(), input.as_ptr(), input.len())
    };
    if rc < 0 {
        Err(Error(rc))
    } else {
        Ok(rc as u32)
    }
}

/// The length of this agent's config (`sdk/ABI.md`, "Config": its topology
/// agent's `config:`, a string as is, anything else as JSON with sorted
/// keys; 0 without one). No capability.
#[inline]
pub fn config_len() -> usize {
    // A config longer than an i32 fails the call; it cannot be held anyway.
    unsafe { raw::config(core::ptr::null_mut(), 0) }.max(0) as usize
}

/// Copies this agent's config into `buf`, its first `buf.len()` bytes if it
/// is longer, and returns its full length: a length over `buf.len()` means
/// it was cut (see [`config_len`]). No capability; works in every hook.
#[inline]
pub fn config(buf: &mut [u8]) -> Result<usize> {
    let rc = unsafe { raw::config(buf.as_mut_ptr(), buf.len()) };
    if rc < 0 {
        Err(Error(rc))
    } else {
        Ok(rc as usize)
    }
}

/// This agent's config as text, read into `buf`: TOO_LARGE if it does not
/// fit, BAD_INPUT if it is not UTF-8. No capability.
///
/// ```ignore
/// let mut buf = [0u8; 256];
/// let cfg = lockstep::config_str(&mut buf)?; // {"name":"x","rate":3}
/// ```
pub fn config_str(buf: &mut [u8]) -> Result<&str> {
    let n = config(buf)?;
    if n > buf.len() {
        return Err(Error::TOO_LARGE);
    }
    core::str::from_utf8(&buf[..n]).map_err(|_| Error::BAD_INPUT)
}

/// This agent's config (with `--cfg lockstep_std`, which has an allocator).
#[cfg(lockstep_std)]
pub fn config_vec() -> std::vec::Vec<u8> {
    let mut v = std::vec![0u8; config_len()];
    let n = config(&mut v).unwrap_or(0);
    v.truncate(n);
    v
}

// ------------------------------------------------ context and message ---

/// The context an `agent_step` call gets (24 bytes at `ctx_ptr`).
#[repr(C)]
pub struct Ctx {
    tick: u64,
    self_ptr: u32,
    self_len: u32,
    delivered: u32,
    reserved: u32,
}

/// A message as `agent_receive` gets it: the 32-byte header at `msg_ptr`,
/// whose bytes follow it in the same scratch block. A `&Msg` is valid only
/// during the call: copy what you keep.
#[repr(C)]
pub struct Msg {
    sent: u64,
    from_ptr: u32,
    from_len: u32,
    channel_ptr: u32,
    channel_len: u32,
    payload_ptr: u32,
    payload_len: u32,
}

const _: () = assert!(core::mem::size_of::<Ctx>() == 24);
const _: () = assert!(core::mem::size_of::<Msg>() == 32);

#[inline]
unsafe fn bytes<'a>(ptr: u32, len: u32) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(ptr as usize as *const u8, len as usize)
    }
}

/// Names from the host are ASCII (the ABI's name rule); anything else
/// reads as "".
#[inline]
fn name_str(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or("")
}

impl Ctx {
    /// The tick being run.
    #[inline]
    pub fn tick(&self) -> u64 {
        self.tick
    }
    /// This agent's id.
    #[inline]
    pub fn self_id(&self) -> &str {
        name_str(unsafe { bytes(self.self_ptr, self.self_len) })
    }
    /// How many messages this agent received this tick.
    #[inline]
    pub fn delivered(&self) -> u32 {
        self.delivered
    }
}

impl Msg {
    /// The tick at which the message was sent.
    #[inline]
    pub fn sent(&self) -> u64 {
        self.sent
    }
    /// The sender's id, as bytes ("" for an external input).
    #[inline]
    pub fn from_bytes(&self) -> &[u8] {
        unsafe { bytes(self.from_ptr, self.from_len) }
    }
    /// The sender's id ("" for an external input, "@model" for an
    /// inference result).
    #[inline]
    pub fn from(&self) -> &str {
        name_str(self.from_bytes())
    }
    /// The channel it was published on ("" for a direct send).
    #[inline]
    pub fn channel(&self) -> &str {
        name_str(unsafe { bytes(self.channel_ptr, self.channel_len) })
    }
    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        unsafe { bytes(self.payload_ptr, self.payload_len) }
    }
    /// True for a direct send (no channel).
    #[inline]
    pub fn is_direct(&self) -> bool {
        self.channel_len == 0
    }
    /// True for an external input (no sender).
    #[inline]
    pub fn is_external(&self) -> bool {
        self.from_len == 0
    }
    /// True for an inference result (sender "@model", which no agent can
    /// forge).
    #[inline]
    pub fn is_result(&self) -> bool {
        self.from_bytes() == MODEL_SENDER.as_bytes()
    }
    /// Reads the inference result in this message; BAD_INPUT if it is not
    /// one.
    pub fn result(&self) -> Result<InferResult<'_>> {
        if !self.is_result() {
            return Err(Error::BAD_INPUT);
        }
        InferResult::parse(self.payload())
    }
}

// ------------------------------------------------------- little endian ---

/// Reads a little-endian u32 at `b[off..off + 4]` (None if out of range).
#[inline]
pub fn get_u32le(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a little-endian u64 at `b[off..off + 8]` (None if out of range).
#[inline]
pub fn get_u64le(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

// ------------------------------------------------------------ text buffer ---

/// A fixed-capacity text builder for log lines and payloads; appends that
/// do not fit are truncated. `push_*` need no formatting machinery;
/// `core::fmt::Write` (`write!`) works too.
pub struct Buf<const N: usize> {
    b: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Buf { b: [0; N], len: 0 }
    }
    /// The bytes so far.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.len]
    }
    /// The bytes so far as text ("" if a truncation split a character).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
    /// The length so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if nothing was written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Empties the buffer.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0
    }
    /// Appends bytes (truncated to the capacity).
    pub fn push_bytes(&mut self, s: &[u8]) -> &mut Self {
        let n = core::cmp::min(s.len(), N - self.len);
        self.b[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }
    /// Appends text.
    #[inline]
    pub fn push_str(&mut self, s: &str) -> &mut Self {
        self.push_bytes(s.as_bytes())
    }
    /// Appends a decimal number.
    pub fn push_u64(&mut self, mut v: u64) -> &mut Self {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push_bytes(&d[i..])
    }
    /// Appends a signed decimal number.
    pub fn push_i64(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.push_bytes(b"-");
        }
        self.push_u64(v.unsigned_abs())
    }
    /// Appends 16 lowercase hex digits.
    pub fn push_hex64(&mut self, v: u64) -> &mut Self {
        let mut d = [0u8; 16];
        for (i, c) in d.iter_mut().enumerate() {
            *c = b"0123456789abcdef"[((v >> (60 - 4 * i)) & 15) as usize];
        }
        self.push_bytes(&d)
    }
    /// Logs the buffer. Capability `log`.
    #[inline]
    pub fn log(&self, level: Level) {
        log_bytes(level, self.as_bytes())
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

// -------------------------------------------------------------- inference ---

/// Writes a tensor list (the `infer` input) into a caller-provided buffer:
///
/// ```ignore
/// let mut mem = [0u8; 64];
/// let mut w = lockstep::Tensors::new(&mut mem);
/// w.f32(&[1, 4], &[0.1, 0.2, 0.3, 0.4])?;
/// lockstep::infer("flowers", "", w.as_bytes())?;
/// ```
pub struct Tensors<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u32,
    overflow: bool,
}

impl<'a> Tensors<'a> {
    /// An empty list in `buf` (at least 4 bytes, or every add fails).
    pub fn new(buf: &'a mut [u8]) -> Self {
        let overflow = buf.len() < 4;
        if !overflow {
            buf[..4].copy_from_slice(&0u32.to_le_bytes());
        }
        Tensors { buf, len: if overflow { 0 } else { 4 }, count: 0, overflow }
    }

    /// Appends a tensor of `dtype` (see [`dtype`]) with `dims` and
    /// `data`, its row-major little-endian bytes (the product of dims times
    /// the element size: not checked here, the host checks it). TOO_LARGE if
    /// it does not fit (the list is then unusable) or the rank is over 8.
    pub fn add(&mut self, dtype: u8, dims: &[i64], data: &[u8]) -> Result {
        let need = 8 + 8 * dims.len() + data.len();
        if self.overflow || dims.len() > 8 || data.len() > u32::MAX as usize || need > self.buf.len() - self.len {
            self.overflow = true;
            return Err(Error::TOO_LARGE);
        }
        let q = &mut self.buf[self.len..self.len + need];
        q[0] = dtype;
        q[1] = dims.len() as u8;
        q[2] = 0;
        q[3] = 0;
        q[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            q[8 + 8 * i..16 + 8 * i].copy_from_slice(&d.to_le_bytes());
        }
        q[8 + 8 * dims.len()..].copy_from_slice(data);
        self.len += need;
        self.count += 1;
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }

    /// Appends a float32 tensor.
    pub fn f32(&mut self, dims: &[i64], v: &[f32]) -> Result {
        self.add_elems(dtype::F32, dims, v.len() * 4, v.iter().map(|x| x.to_le_bytes()))
    }

    /// Appends an int64 tensor.
    pub fn i64(&mut self, dims: &[i64], v: &[i64]) -> Result {
        self.add_elems(dtype::I64, dims, v.len() * 8, v.iter().map(|x| x.to_le_bytes()))
    }

    /// Appends an int32 tensor.
    pub fn i32(&mut self, dims: &[i64], v: &[i32]) -> Result {
        self.add_elems(dtype::I32, dims, v.len() * 4, v.iter().map(|x| x.to_le_bytes()))
    }

    /// Appends a uint8 tensor.
    pub fn u8(&mut self, dims: &[i64], v: &[u8]) -> Result {
        self.add(dtype::U8, dims, v)
    }

    /// Appends a float16 tensor of `v` rounded to halves ([`f32_to_f16`]).
    pub fn f16(&mut self, dims: &[i64], v: &[f32]) -> Result {
        self.add_elems(dtype::F16, dims, v.len() * 2, v.iter().map(|x| f32_to_f16(*x).to_le_bytes()))
    }

    /// Appends a string tensor.
    pub fn str(&mut self, dims: &[i64], v: &[&str]) -> Result {
        let text: usize = v.iter().map(|s| s.len()).sum();
        let mut end = 0u32;
        let ends = v.iter().map(|s| {
            end += s.len() as u32;
            end.to_le_bytes()
        });
        self.add_elems(dtype::STR, dims, 4 * v.len() + text, ends)?;
        // add_elems wrote the offsets and made room for the text after them.
        for s in v {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        }
        Ok(())
    }

    fn add_elems<const S: usize, I: Iterator<Item = [u8; S]>>(
        &mut self,
        dtype: u8,
        dims: &[i64],
        nbytes: usize,
        elems: I,
    ) -> Result {
        let need = 8 + 8 * dims.len() + nbytes;
        if self.overflow || dims.len() > 8 || nbytes > u32::MAX as usize || need > self.buf.len() - self.len {
            self.overflow = true;
            return Err(Error::TOO_LARGE);
        }
        // Write the header with empty data, then the elements in place.
        let start = self.len;
        self.add(dtype, dims, &[])?;
        self.buf[start + 4..start + 8].copy_from_slice(&(nbytes as u32).to_le_bytes());
        for e in elems {
            self.buf[self.len..self.len + S].copy_from_slice(&e);
            self.len += S;
        }
        Ok(())
    }

    /// The encoded list (for [`infer`]).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// The number of tensors.
    #[inline]
    pub fn count(&self) -> u32 {
        self.count
    }
    /// True once an add did not fit: the list is unusable.
    #[inline]
    pub fn overflow(&self) -> bool {
        self.overflow
    }
}

/// A value inside an inference result: a dense tensor, or (see [`kind`]) a
/// sequence or map; its bytes point into the message and may be unaligned
/// (the accessors copy). Element accessors give 0 (NaN for floats, empty
/// for strings) when out of range or of another dtype.
#[derive(Clone, Copy)]
pub struct Tensor<'a> {
    /// The element type (see [`dtype`]; 0 for a sequence or map).
    pub dtype: u8,
    /// The kind of value (see [`kind`]).
    pub kind: u8,
    dims: &'a [u8],
    /// The row-major little-endian bytes (a sequence's or map's body).
    pub data: &'a [u8],
}

/// Reads the value at `b[off..]`: the value and where it ends.
fn value_at(b: &[u8], off: usize) -> Option<(Tensor<'_>, usize)> {
    let rank = *b.get(off + 1)? as usize;
    let nbytes = get_u32le(b, off + 4)? as usize;
    let dims_at = off + 8;
    let data_at = dims_at + 8 * rank;
    let end = data_at.checked_add(nbytes)?;
    if rank > 8 || end > b.len() {
        return None;
    }
    Some((Tensor { dtype: b[off], kind: b[off + 2], dims: &b[dims_at..data_at], data: &b[data_at..end] }, end))
}

/// Value `i` of the value list `b`.
fn list_item(b: &[u8], i: u32) -> Result<Tensor<'_>> {
    let mut off = 4usize;
    for k in 0..get_u32le(b, 0).unwrap_or(0) {
        let (t, end) = value_at(b, off).ok_or(Error::NOT_FOUND)?;
        if k == i {
            return Ok(t);
        }
        off = end;
    }
    Err(Error::NOT_FOUND)
}

impl<'a> Tensor<'a> {
    /// The number of dimensions.
    #[inline]
    pub fn rank(&self) -> usize {
        self.dims.len() / 8
    }
    /// Dimension `i` (0 if out of range).
    #[inline]
    pub fn dim(&self, i: usize) -> i64 {
        get_u64le(self.dims, 8 * i).unwrap_or(0) as i64
    }
    /// The number of elements of a dense tensor (1 for a scalar).
    pub fn count(&self) -> usize {
        (0..self.rank()).map(|i| self.dim(i) as usize).product()
    }
    fn bits32(&self, want: u8, i: usize) -> Option<u32> {
        if self.dtype == want {
            get_u32le(self.data, 4 * i)
        } else {
            None
        }
    }
    fn bits16(&self, want: u8, i: usize) -> Option<u16> {
        match (self.dtype == want, self.data.get(2 * i..2 * i + 2)) {
            (true, Some(s)) => Some(u16::from_le_bytes([s[0], s[1]])),
            _ => None,
        }
    }
    /// Float32 element `i`.
    #[inline]
    pub fn f32(&self, i: usize) -> f32 {
        self.bits32(dtype::F32, i).map_or(f32::NAN, f32::from_bits)
    }
    /// The number of float32 elements (0 if not float32).
    #[inline]
    pub fn len_f32(&self) -> usize {
        if self.dtype == dtype::F32 {
            self.data.len() / 4
        } else {
            0
        }
    }
    /// Float16 element `i`, converted exactly to float32.
    #[inline]
    pub fn f16(&self, i: usize) -> f32 {
        self.bits16(dtype::F16, i).map_or(f32::NAN, f16_to_f32)
    }
    /// Bfloat16 element `i`, converted exactly to float32.
    #[inline]
    pub fn bf16(&self, i: usize) -> f32 {
        self.bits16(dtype::BF16, i).map_or(f32::NAN, bf16_to_f32)
    }
    /// Int64 element `i`.
    #[inline]
    pub fn i64(&self, i: usize) -> i64 {
        match (self.dtype, get_u64le(self.data, 8 * i)) {
            (dtype::I64, Some(v)) => v as i64,
            _ => 0,
        }
    }
    /// Int32 element `i`.
    #[inline]
    pub fn i32(&self, i: usize) -> i32 {
        self.bits32(dtype::I32, i).unwrap_or(0) as i32
    }
    /// Uint8 element `i`.
    #[inline]
    pub fn u8(&self, i: usize) -> u8 {
        match (self.dtype, self.data.get(i)) {
            (dtype::U8, Some(v)) => *v,
            _ => 0,
        }
    }
    /// The bytes of string element `i` (strings need not be UTF-8).
    pub fn str_bytes(&self, i: usize) -> &'a [u8] {
        let n = self.count();
        if self.dtype != dtype::STR || i >= n {
            return &[];
        }
        let start = if i == 0 { 0 } else { get_u32le(self.data, 4 * (i - 1)).unwrap_or(0) as usize };
        let end = get_u32le(self.data, 4 * i).unwrap_or(0) as usize;
        self.data.get(4 * n + start..4 * n + end).unwrap_or(&[])
    }
    /// String element `i` as text ("" if it is not UTF-8).
    pub fn str(&self, i: usize) -> &'a str {
        core::str::from_utf8(self.str_bytes(i)).unwrap_or("")
    }
    /// The number of values of a sequence (0 if this is not one).
    pub fn seq_len(&self) -> u32 {
        if self.kind == kind::SEQ {
            get_u32le(self.data, 0).unwrap_or(0)
        } else {
            0
        }
    }
    /// Value `i` of a sequence; NOT_FOUND if there is none.
    pub fn seq_item(&self, i: u32) -> Result<Tensor<'a>> {
        if self.kind != kind::SEQ {
            return Err(Error::NOT_FOUND);
        }
        list_item(self.data, i)
    }
    /// A map's keys: a rank-1 tensor of integers or strings.
    pub fn map_keys(&self) -> Result<Tensor<'a>> {
        match (self.kind, value_at(self.data, 0)) {
            (kind::MAP, Some((k, _))) => Ok(k),
            _ => Err(Error::NOT_FOUND),
        }
    }
    /// A map's values: a rank-1 tensor as long as its keys.
    pub fn map_values(&self) -> Result<Tensor<'a>> {
        match (self.kind, value_at(self.data, 0)) {
            (kind::MAP, Some((_, end))) => value_at(self.data, end).map(|(v, _)| v).ok_or(Error::NOT_FOUND),
            _ => Err(Error::NOT_FOUND),
        }
    }
    /// The number of entries of a map (0 if this is not one).
    pub fn map_len(&self) -> usize {
        self.map_keys().map_or(0, |k| k.count())
    }
}

/// An inference result (the payload of a message from "@model").
#[derive(Clone, Copy)]
pub struct InferResult<'a> {
    /// The number [`infer`] returned for the request.
    pub request: u32,
    /// 0, or a negative code ([`Error`]'s constants).
    pub status: i32,
    /// [`RESULT_RECORDED`], [`RESULT_BATCHED`].
    pub flags: u32,
    /// Status 0: the output tensor list; otherwise the error text.
    pub body: &'a [u8],
}

const RESULT_MAGIC: u32 = 0x5249_534c; // "LSIR"

impl<'a> InferResult<'a> {
    /// Parses a result payload; BAD_INPUT if it is not one.
    pub fn parse(p: &'a [u8]) -> Result<Self> {
        match (get_u32le(p, 0), get_u32le(p, 4), get_u32le(p, 8), get_u32le(p, 12)) {
            (Some(RESULT_MAGIC), Some(request), Some(status), Some(flags)) => {
                Ok(InferResult { request, status: status as i32, flags, body: &p[16..] })
            }
            _ => Err(Error::BAD_INPUT),
        }
    }
    /// True if the model ran (status 0).
    #[inline]
    pub fn ok(&self) -> bool {
        self.status == 0
    }
    /// The status as a [`Result`].
    #[inline]
    pub fn check(&self) -> Result {
        check(self.status)
    }
    /// The host's error text of a failed result ("" on success).
    pub fn error_text(&self) -> &'a str {
        if self.ok() {
            ""
        } else {
            core::str::from_utf8(self.body).unwrap_or("")
        }
    }
    /// The number of output tensors (0 for a failed result).
    pub fn count(&self) -> u32 {
        if self.ok() {
            get_u32le(self.body, 0).unwrap_or(0)
        } else {
            0
        }
    }
    /// Output `i` (a dense tensor, sequence or map); NOT_FOUND if there is
    /// no such output or the list is malformed.
    pub fn output(&self, i: u32) -> Result<Tensor<'a>> {
        if !self.ok() {
            return Err(Error::NOT_FOUND);
        }
        list_item(self.body, i)
    }
}

// ------------------------------------------------------------------ agent ---

/// An agent: one value per incarnation, made by [`lockstep_agent!`] before
/// `init`. Every hook returns `Ok(())` for success; `Err(e)` is a failure of
/// the agent at that tick (the hook returns `e.0`), handled by its
/// supervisor like a trap. Hooks you do not write succeed.
pub trait Agent {
    /// Once per incarnation, before the first `receive`/`step`. There is no
    /// context yet; [`tick`] works.
    fn init(&mut self) -> Result {
        Ok(())
    }
    /// Once per message delivered this tick, in canonical order, before
    /// `step`.
    fn receive(&mut self, msg: &Msg) -> Result {
        let _ = msg;
        Ok(())
    }
    /// Once per tick, after the tick's messages.
    fn step(&mut self, ctx: &Ctx) -> Result {
        let _ = ctx;
        Ok(())
    }
    /// When the agent is stopped or the host closes; its effects are
    /// discarded.
    fn shutdown(&mut self) -> Result {
        Ok(())
    }
}

/// Support for [`lockstep_agent!`]; not part of the API.
#[doc(hidden)]
pub mod __rt {
    /// Runs at the start of `agent_init`: with `--cfg lockstep_std`, it
    /// installs (once) a panic hook that logs the panic as the no_std panic
    /// handler does; std then aborts, which traps.
    #[inline]
    pub fn init() {
        #[cfg(all(lockstep_std, not(lockstep_quiet_panic)))]
        {
            static mut HOOKED: bool = false;
            // Safety: wasm agents are single-threaded.
            unsafe {
                if !HOOKED {
                    HOOKED = true;
                    std::panic::set_hook(std::boxed::Box::new(|info| super::log_panic(info)));
                }
            }
        }
    }

    use core::arch::wasm32;

    static mut SCRATCH_BASE: usize = 0;
    static mut SCRATCH_CAP: usize = 0;
    const PAGE: usize = 65536;

    /// `agent_alloc`: one grow-only scratch buffer on pages taken with
    /// memory.grow (page-aligned), extended in place while it is last in
    /// memory, never shrunk. 0 if memory cannot grow.
    pub fn alloc(size: u32) -> u32 {
        let size = size as usize;
        unsafe {
            if SCRATCH_CAP != 0 && size <= SCRATCH_CAP {
                return SCRATCH_BASE as u32;
            }
            let end = wasm32::memory_size(0) * PAGE;
            let extend = SCRATCH_CAP != 0 && SCRATCH_BASE + SCRATCH_CAP == end;
            let want = if extend { size - SCRATCH_CAP } else { size };
            let pages = want / PAGE + (want % PAGE != 0 || want == 0) as usize;
            let old = wasm32::memory_grow(0, pages);
            if old == usize::MAX || old == 0 {
                return 0;
            }
            if !extend {
                SCRATCH_BASE = old * PAGE;
                SCRATCH_CAP = 0;
            }
            SCRATCH_CAP += pages * PAGE;
            SCRATCH_BASE as u32
        }
    }

    /// Converts the pointers the host passes.
    #[inline]
    pub unsafe fn msg<'a>(p: u32) -> &'a super::Msg {
        &*(p as usize as *const super::Msg)
    }

    /// Converts the pointers the host passes.
    #[inline]
    pub unsafe fn ctx<'a>(p: u32) -> &'a super::Ctx {
        &*(p as usize as *const super::Ctx)
    }
}

/// Declares the module's agent and emits the ABI exports
/// (`lockstep_abi_version`, `agent_alloc`, `agent_init`, `agent_receive`,
/// `agent_step`, `agent_shutdown`; the linker exports `memory`). Use it once
/// per module, at the crate root:
///
/// ```ignore
/// lockstep::lockstep_agent!(MyAgent);                  // MyAgent: Agent + Default
/// lockstep::lockstep_agent!(MyAgent, MyAgent::new(3)); // any expression
/// ```
///
/// `agent_init` makes a fresh value with the expression (or `Default`) and
/// then calls [`Agent::init`]; a hook called before `agent_init` (which the
/// host never does) fails with 1.
#[macro_export]
macro_rules! lockstep_agent {
    ($ty:ty) => {
        $crate::lockstep_agent!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $make:expr) => {
        static mut __LOCKSTEP_AGENT: ::core::option::Option<$ty> = ::core::option::Option::None;

        #[inline(always)]
        fn __lockstep_hook(f: impl FnOnce(&mut $ty) -> $crate::Result) -> i32 {
            // Safety: wasm agents are single-threaded and the host never
            // re-enters a hook.
            match unsafe { __LOCKSTEP_AGENT.as_mut() } {
                ::core::option::Option::Some(a) => $crate::hook_code(f(a)),
                ::core::option::Option::None => 1,
            }
        }

        #[export_name = "lockstep_abi_version"]
        pub extern "C" fn __lockstep_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[export_name = "agent_alloc"]
        pub extern "C" fn __lockstep_agent_alloc(size: u32) -> u32 {
            $crate::__rt::alloc(size)
        }

        #[export_name = "agent_init"]
        pub extern "C" fn __lockstep_agent_init() -> i32 {
            $crate::__rt::init();
            unsafe { __LOCKSTEP_AGENT = ::core::option::Option::Some($make) };
            __lockstep_hook(|a| $crate::Agent::init(a))
        }

        #[export_name = "agent_receive"]
        pub extern "C" fn __lockstep_agent_receive(msg: u32) -> i32 {
            __lockstep_hook(|a| $crate::Agent::receive(a, unsafe { $crate::__rt::msg(msg) }))
        }

        #[export_name = "agent_step"]
        pub extern "C" fn __lockstep_agent_step(ctx: u32) -> i32 {
            __lockstep_hook(|a| $crate::Agent::step(a, unsafe { $crate::__rt::ctx(ctx) }))
        }

        #[export_name = "agent_shutdown"]
        pub extern "C" fn __lockstep_agent_shutdown() -> i32 {
            __lockstep_hook(|a| $crate::Agent::shutdown(a))
        }
    };
}

/// Logs a panic at error level: "panicked at 'MESSAGE', FILE:LINE:COL" (as
/// `PanicInfo` displays it), cut to 256 bytes. A panic while formatting the
/// message (a `Display` that panics) logs nothing more.
#[cfg(not(lockstep_quiet_panic))]
fn log_panic(info: &core::panic::PanicInfo<'_>) {
    static mut LOGGING: bool = false;
    // Safety: wasm agents are single-threaded.
    unsafe {
        if LOGGING {
            return;
        }
        LOGGING = true;
    }
    let mut b = Buf::<256>::new();
    let _ = fmt::Write::write_fmt(&mut b, format_args!("{}", info));
    b.log(Level::Error);
    unsafe { LOGGING = false };
}

/// Logs the panic (unless built with `--cfg lockstep_quiet_panic`), then
/// traps: the host reports a failure of the agent at this tick ("wasm
/// error: unreachable"), whose reason quotes the logged line. Left out with
/// `--cfg lockstep_std` (see `__rt::init`).
#[cfg(not(lockstep_std))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(not(lockstep_quiet_panic))]
    log_panic(_info);
    core::arch::wasm32::unreachable()
}
