//! stdpanicker: panicker with std (built with `--cfg lockstep_std`): the
//! SDK leaves the panic handler to std and installs a panic hook that logs
//! the panic; std then aborts, which traps. At tick 5 it panics with a
//! formatted message.
//!
//! Grants: log (the panic hook's).
use lockstep::{Agent, Ctx};

#[derive(Default)]
struct Panicker {
    seen: Vec<u64>,
}

impl Agent for Panicker {
    fn step(&mut self, ctx: &Ctx) -> lockstep::Result {
        self.seen.push(ctx.tick());
        if ctx.tick() == 5 {
            panic!("gave up after {} steps", self.seen.len());
        }
        Ok(())
    }
}

lockstep::lockstep_agent!(Panicker);
