;; A well-formed ABI v1 agent whose start function never returns.
(module
  (memory (export "memory") 1)
  (global $sink (mut i32) (i32.const 0))
  (func $forever (loop $l (global.set $sink (i32.add (global.get $sink) (i32.const 1))) (br $l)))
  (start $forever)
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param i32) (result i32) (i32.const 0))
  (func (export "agent_step") (param i32) (result i32) (i32.const 0))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
