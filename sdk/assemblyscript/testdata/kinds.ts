// kinds: a test agent for every kind of value (internal/modeltest,
// CheckKinds). At its first step it asks model "kinds" about typed inputs
// written with Tensors; when the result comes it renders every output, read
// with output(), seqItem(), mapKeys(), mapValues() and the typed element
// accessors, into its state region "seen". Grants: inference:kinds,
// state.write (and log, for the default abort handler).
import {
  Agent, Context, Message, OK, Tensor, Tensors, F32, F16, I64, I32, U8, STR, SEQ, MAP, infer, register, stateWrite,
} from "../lockstep";
export {
  lockstep_abi_version, agent_alloc, agent_init, agent_receive, agent_step, agent_shutdown,
} from "../lockstep";

function hex8(f: f32): string {
  let s = reinterpret<u32>(f).toString(16);
  while (s.length < 8) s = "0" + s;
  return s;
}

function elem(t: Tensor, i: u32): string {
  if (t.dtype == F32) return hex8(t.f32(i));
  if (t.dtype == F16) return hex8(t.f16(i));
  if (t.dtype == I64) return t.i64(i).toString();
  if (t.dtype == I32) return t.i32(i).toString();
  if (t.dtype == U8) return t.u8(i).toString();
  if (t.dtype == STR) return t.strLength(i).toString() + ":" + t.str(i);
  return "?";
}

function dtypeName(d: u8): string {
  if (d == F32) return "float32";
  if (d == F16) return "float16";
  if (d == I64) return "int64";
  if (d == I32) return "int32";
  if (d == U8) return "uint8";
  if (d == STR) return "string";
  return "?";
}

function render(v: Tensor): string {
  if (v.kind == SEQ) {
    let s = "seq " + v.seqLength().toString();
    for (let i: u32 = 0; i < v.seqLength(); i++) s += " (" + render(v.seqItem(i)!) + ")";
    return s;
  }
  if (v.kind == MAP) {
    let keys = v.mapKeys()!, values = v.mapValues()!;
    let s = "map " + v.mapLength().toString();
    for (let i: u32 = 0; i < v.mapLength(); i++) s += " " + elem(keys, i) + "=" + elem(values, i);
    return s;
  }
  let s = dtypeName(v.dtype) + " [";
  for (let i: u32 = 0; i < v.rank; i++) s += (i > 0 ? "," : "") + v.dim(i).toString();
  s += "]";
  for (let i: u32 = 0; <i64>i < v.elements(); i++) s += " " + elem(v, i);
  return s;
}

class Kinds extends Agent {
  step(ctx: Context): i32 {
    if (ctx.tick != 0) return OK;
    let w = new Tensors();
    let x = new Float32Array(4);
    x[0] = 0.5; x[1] = -1.25; x[2] = 2; x[3] = 0.75;
    let h = new Float32Array(2);
    h[0] = 1.5; h[1] = -0.1;
    let n = new Int64Array(2);
    n[0] = -5; n[1] = 1 << 40;
    let k = new Int32Array(2);
    k[0] = -7; k[1] = 123456;
    let b = new Uint8Array(3);
    b[0] = 1; b[1] = 2; b[2] = 255;
    w.f32([1, 4], x);
    w.f16([2], h);
    w.i64([2], n);
    w.i32([2], k);
    w.u8([3], b);
    w.str([2], ["ab", "✿ς"]);
    let r = infer("kinds", "1", w);
    return r < 0 ? r : OK;
  }
  receive(msg: Message): i32 {
    let r = msg.result();
    if (r == null) return OK;
    if (!r.ok()) return 11;
    let lines = new Array<string>();
    for (let i: u32 = 0; i < r.count(); i++) {
      let v = r.output(i);
      if (v == null) return 12;
      lines.push(render(v));
    }
    return stateWrite("seen", Uint8Array.wrap(String.UTF8.encode(lines.join("\n"))));
  }
}

register(new Kinds());
