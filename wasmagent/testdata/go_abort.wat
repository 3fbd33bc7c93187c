;; An agent that aborts the way Go's runtime does: it writes a "fatal
;; error: " line (which of two its message's first byte picks: 'm' for out
;; of memory, anything else for a deadlock) and a goroutine dump to WASI's
;; stderr, then traps with unreachable. TestGoAbortIsExplained runs it.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "runtime: out of memory: cannot allocate 524288-byte block (1441792 in use)\nfatal error: out of memory\n\ngoroutine 1 [running]:\n")
  (data (i32.const 256) "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [running]:\n")
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param $msg i32) (result i32)
    ;; an iovec at 0: the chosen text
    (if (i32.eq (i32.load8_u (i32.load (i32.add (local.get $msg) (i32.const 24)))) (i32.const 109))
      (then (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 126)))
      (else (i32.store (i32.const 0) (i32.const 256)) (i32.store (i32.const 4) (i32.const 75))))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable)
  (func (export "agent_step") (param i32) (result i32) (i32.const 0))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
