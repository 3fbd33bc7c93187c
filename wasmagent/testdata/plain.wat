;; An agent that does not import lockstep.config: each step publishes the
;; tick (8 bytes, little-endian) on channel "out". TestConfigFreeModules
;; runs it with and without a config and pins its digests.
(module
  (import "lockstep" "tick" (func $tick (result i64)))
  (import "lockstep" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out")
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param i32) (result i32) (i32.const 0))
  (func (export "agent_step") (param i32) (result i32)
    (i64.store (i32.const 32) (i64.mul (call $tick) (i64.const 3)))
    (call $publish (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 8)))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
