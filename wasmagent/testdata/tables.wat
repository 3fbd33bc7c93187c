;; A well-formed ABI v1 agent whose step changes a table (table.set): its
;; instances run, but cannot be snapshotted.
(module
  (memory (export "memory") 1)
  (table $t 2 funcref)
  (func $f)
  (elem declare func $f)
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param i32) (result i32) (i32.const 0))
  (func (export "agent_step") (param i32) (result i32)
    (table.set $t (i32.const 1) (ref.func $f))
    (i32.const 0))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
