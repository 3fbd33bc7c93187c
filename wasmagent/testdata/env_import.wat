;; Imports from "env", as a C module linked without -nostdlib might.
(module
  (import "env" "malloc" (func $malloc (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "lockstep_abi_version") (result i32) (i32.const 1))
  (func (export "agent_alloc") (param i32) (result i32) (call $malloc (local.get 0)))
  (func (export "agent_init") (result i32) (i32.const 0))
  (func (export "agent_receive") (param i32) (result i32) (i32.const 0))
  (func (export "agent_step") (param i32) (result i32) (i32.const 0))
  (func (export "agent_shutdown") (result i32) (i32.const 0)))
