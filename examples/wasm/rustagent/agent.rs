//! rustagent: a Lockstep agent in Rust (sdk/rust). It joins channel
//! "counts", sums the counts published there (8-byte little-endian u64s, as
//! counter.c sends them) and every step writes its state region "rsum": the
//! sum then one draw of its random stream, both 8-byte little-endian u64s.
//! Every 50th tick it logs the sum.
//!
//! Grants: channels, state.write, random, log. Build: sdk/rust/build.sh.
#![no_std]

use lockstep::{Agent, Buf, Ctx, Level, Msg};

#[derive(Default)]
struct Summer {
    sum: u64,
}

impl Agent for Summer {
    fn init(&mut self) -> lockstep::Result {
        lockstep::join("counts")
    }

    fn receive(&mut self, msg: &Msg) -> lockstep::Result {
        if msg.channel() == "counts" {
            if let (8, Some(n)) = (msg.payload().len(), lockstep::get_u64le(msg.payload(), 0)) {
                self.sum = self.sum.wrapping_add(n);
            }
        }
        Ok(())
    }

    fn step(&mut self, ctx: &Ctx) -> lockstep::Result {
        let mut state = [0u8; 16];
        state[..8].copy_from_slice(&self.sum.to_le_bytes());
        state[8..].copy_from_slice(&lockstep::random().to_le_bytes());
        lockstep::state_write("rsum", &state)?;
        if ctx.tick() % 50 == 0 {
            let mut line = Buf::<64>::new();
            line.push_str(ctx.self_id()).push_str(": sum ").push_u64(self.sum);
            line.push_str(" at tick ").push_u64(ctx.tick());
            line.log(Level::Info);
        }
        Ok(())
    }
}

lockstep::lockstep_agent!(Summer);
