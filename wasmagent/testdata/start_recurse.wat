;; A module whose start function recurses without end: refused at load with
;; the call depth limit named, on every engine.
(module
  (memory (export "memory") 1)
  (func $r (call $r))
  (start $r)
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param i32) (result i32) (i32.const 0))
  (func (export "agent_step") (param i32) (result i32) (i32.const 0))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
