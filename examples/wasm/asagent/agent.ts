// asagent: an AssemblyScript agent (sdk/assemblyscript). It joins channel
// "counts", where counter agents publish their count every step as an
// 8-byte little-endian u64, and sums every count it receives. Every step it
// writes its state region "assum": the sum (LE u64) followed by one draw of
// its random stream (LE u64). Every 50th tick it logs the sum.
//
// Grants: channels, state.write, random, log.
// Build: sdk/assemblyscript/build.sh OUT_DIR (gives OUT_DIR/asagent.wasm).

import {
  Agent, Context, Message, OK,
  register, join, stateWrite, random, info,
} from "../../../sdk/assemblyscript/lockstep";

// The ABI exports: asc exports only what the entry file exports.
export {
  lockstep_abi_version, agent_alloc, agent_init, agent_receive, agent_step, agent_shutdown,
} from "../../../sdk/assemblyscript/lockstep";

class Summer extends Agent {
  sum: u64 = 0;
  received: u32 = 0;
  // Reused every step: no garbage per tick.
  region: Uint8Array = new Uint8Array(16);

  init(): i32 {
    this.sum = 0;
    this.received = 0;
    return join("counts");
  }

  receive(msg: Message): i32 {
    if (msg.channelIs("counts") && msg.payloadLen == 8) {
      this.sum += msg.payloadU64(0);
      this.received++;
    }
    return OK;
  }

  step(ctx: Context): i32 {
    let p = this.region.dataStart;
    store<u64>(p, this.sum);
    store<u64>(p, random(), 8);
    let rc = stateWrite("assum", this.region);
    if (rc != OK) return rc;
    if (ctx.tick % 50 == 0) {
      info("asagent " + ctx.self() + " at tick " + ctx.tick.toString() + ": sum " + this.sum.toString() +
        " of " + this.received.toString() + " counts");
    }
    return OK;
  }
}

register(new Summer());
