//! configured: reads its config (the topology's `config:`) at init with
//! `config_str` (with `--cfg lockstep_std`: `config_vec`), checks
//! `config_len` agrees, and writes it to its state region "config" at every
//! step.
//!
//! Grants: state.write.
#![cfg_attr(not(lockstep_std), no_std)]
use lockstep::{Agent, Ctx, Error};

struct Configured {
    buf: [u8; 256],
    len: usize,
}

impl Agent for Configured {
    fn init(&mut self) -> lockstep::Result {
        #[cfg(not(lockstep_std))]
        {
            self.len = lockstep::config_str(&mut self.buf)?.len();
        }
        #[cfg(lockstep_std)]
        {
            let v = lockstep::config_vec();
            self.buf.get_mut(..v.len()).ok_or(Error::TOO_LARGE)?.copy_from_slice(&v);
            self.len = v.len();
        }
        if lockstep::config_len() != self.len {
            return Err(Error(9));
        }
        Ok(())
    }
    fn step(&mut self, _ctx: &Ctx) -> lockstep::Result {
        lockstep::state_write("config", &self.buf[..self.len])
    }
}

lockstep::lockstep_agent!(Configured, Configured { buf: [0; 256], len: 0 });
