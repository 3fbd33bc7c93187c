//! rustclassifier: classifier.c in Rust (sdk/rust). Every step it takes one
//! "measurement" (four features drawn from its random stream) and asks the
//! host's model manager to classify it with model "flowers"
//! (examples/classify: an MLP with 4 inputs and 3 class scores). The result
//! arrives at the next tick; it publishes the winning class on channel
//! "labels" as one byte and logs every 25th. A failed inference is logged
//! with the host's error text. With the same agent id it draws, asks and
//! publishes exactly what classifier.c does.
//!
//! Grants: inference:flowers, messaging.publish, log, random.
#![no_std]

use lockstep::{dtype, Agent, Buf, Ctx, Error, Level, Msg, Tensors};

#[derive(Default)]
struct Classifier {
    classified: u64,
}

/// A feature in [-1, 1) from the agent's seeded random stream.
fn feature() -> f32 {
    (lockstep::random() >> 40) as f32 / (1u32 << 23) as f32 - 1.0
}

impl Agent for Classifier {
    fn step(&mut self, _ctx: &Ctx) -> lockstep::Result {
        let x = [feature(), feature(), feature(), feature()];
        let mut mem = [0u8; 64];
        let mut input = Tensors::new(&mut mem);
        input.f32(&[1, 4], &x)?;
        lockstep::infer("flowers", "", input.as_bytes())?; // Ok: the request's number
        Ok(())
    }

    fn receive(&mut self, msg: &Msg) -> lockstep::Result {
        let r = match msg.result() {
            Ok(r) => r,
            Err(_) => return Ok(()), // not an inference result
        };
        let mut line = Buf::<256>::new();
        if !r.ok() {
            line.push_str("inference failed: ").push_str(r.error_text());
            line.log(Level::Warn);
            return Ok(());
        }
        let y = r.output(0)?;
        if y.dtype != dtype::F32 || y.len_f32() != 3 {
            return Err(Error::BAD_INPUT);
        }
        let mut best = 0;
        for k in 1..3 {
            if y.f32(k) > y.f32(best) {
                best = k;
            }
        }
        lockstep::publish("labels", &[best as u8])?;
        self.classified += 1;
        if self.classified % 25 == 0 {
            line.push_str("classified ").push_u64(self.classified);
            line.push_str(" samples; the last is class ").push_u64(best as u64);
            line.push_str(" (score x1000: ").push_i64((y.f32(best) * 1000.0) as i64).push_str(")");
            line.log(Level::Info);
        }
        Ok(())
    }
}

lockstep::lockstep_agent!(Classifier);
