//! panicker: a test agent for the SDK's panic handler. At tick 5 its step
//! indexes a 4-element array with 9: Rust panics ("index out of bounds"),
//! the handler logs the message and its location at error level and traps,
//! and the supervisor restarts the agent.
//!
//! Grants: log (the panic handler's).
#![no_std]

use lockstep::{Agent, Ctx};

#[derive(Default)]
struct Panicker {
    values: [u32; 4],
}

impl Panicker {
    #[inline(never)]
    fn pick(&self, i: usize) -> u32 {
        self.values[i]
    }
}

impl Agent for Panicker {
    fn step(&mut self, ctx: &Ctx) -> lockstep::Result {
        let i = if ctx.tick() == 5 { 9 } else { 0 };
        self.values[0] = self.pick(i) + 1;
        Ok(())
    }
}

lockstep::lockstep_agent!(Panicker);
