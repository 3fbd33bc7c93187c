//! kinds: a test agent for every kind of value (internal/modeltest,
//! CheckKinds). At its first step it asks model "kinds" about typed inputs
//! written with `Tensors`; when the result comes it renders every output,
//! read with `InferResult::output`, `seq_*`, `map_*` and the typed element
//! accessors, into its state region "seen".
//!
//! Grants: inference:kinds, state.write, log (the panic handler logs).
#![no_std]
use core::fmt::Write;
use lockstep::{dtype, kind, Agent, Buf, Ctx, Error, Msg, Tensor, Tensors};

#[derive(Default)]
struct Kinds;

/// Element `i` of a dense tensor, as modeltest.Render writes it.
fn elem(b: &mut Buf<4096>, t: &Tensor, i: usize) {
    let _ = match t.dtype {
        dtype::F32 => write!(b, "{:08x}", t.f32(i).to_bits()),
        dtype::F16 => write!(b, "{:08x}", t.f16(i).to_bits()),
        dtype::I64 => write!(b, "{}", t.i64(i)),
        dtype::I32 => write!(b, "{}", t.i32(i)),
        dtype::U8 => write!(b, "{}", t.u8(i)),
        dtype::STR => write!(b, "{}:{}", t.str_bytes(i).len(), t.str(i)),
        _ => write!(b, "?"),
    };
}

fn name(d: u8) -> &'static str {
    match d {
        dtype::F32 => "float32",
        dtype::F16 => "float16",
        dtype::I64 => "int64",
        dtype::I32 => "int32",
        dtype::U8 => "uint8",
        dtype::STR => "string",
        _ => "?",
    }
}

fn render(b: &mut Buf<4096>, v: &Tensor) -> lockstep::Result {
    match v.kind {
        kind::SEQ => {
            let _ = write!(b, "seq {}", v.seq_len());
            for i in 0..v.seq_len() {
                b.push_str(" (");
                render(b, &v.seq_item(i)?)?;
                b.push_str(")");
            }
        }
        kind::MAP => {
            let (keys, values) = (v.map_keys()?, v.map_values()?);
            let _ = write!(b, "map {}", v.map_len());
            for i in 0..v.map_len() {
                b.push_str(" ");
                elem(b, &keys, i);
                b.push_str("=");
                elem(b, &values, i);
            }
        }
        _ => {
            let _ = write!(b, "{} [", name(v.dtype));
            for i in 0..v.rank() {
                let _ = write!(b, "{}{}", if i > 0 { "," } else { "" }, v.dim(i));
            }
            b.push_str("]");
            for i in 0..v.count() {
                b.push_str(" ");
                elem(b, v, i);
            }
        }
    }
    Ok(())
}

impl Agent for Kinds {
    fn step(&mut self, ctx: &Ctx) -> lockstep::Result {
        if ctx.tick() != 0 {
            return Ok(());
        }
        let mut mem = [0u8; 512];
        let mut w = Tensors::new(&mut mem);
        w.f32(&[1, 4], &[0.5, -1.25, 2.0, 0.75])?;
        w.f16(&[2], &[1.5, -0.1])?;
        w.i64(&[2], &[-5, 1 << 40])?;
        w.i32(&[2], &[-7, 123456])?;
        w.u8(&[3], &[1, 2, 255])?;
        w.str(&[2], &["ab", "✿ς"])?;
        lockstep::infer("kinds", "1", w.as_bytes()).map(|_| ())
    }
    fn receive(&mut self, msg: &Msg) -> lockstep::Result {
        if !msg.is_result() {
            return Ok(());
        }
        let r = msg.result()?;
        r.check()?;
        let mut b = Buf::<4096>::new();
        for i in 0..r.count() {
            if i > 0 {
                b.push_str("\n");
            }
            render(&mut b, &r.output(i).map_err(|_| Error(12))?)?;
        }
        lockstep::state_write("seen", b.as_bytes())
    }
}

lockstep::lockstep_agent!(Kinds);
