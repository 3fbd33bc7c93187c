// aborter: a test agent for the SDK's abort routing. At tick 5 it reads
// element 9 of a 4-element array: AssemblyScript aborts (RangeError), the
// SDK's abort handler logs the message and traps, and the supervisor
// restarts the agent.
import { Agent, Context, OK, register } from "../lockstep";
export {
  lockstep_abi_version, agent_alloc, agent_init, agent_receive, agent_step, agent_shutdown,
} from "../lockstep";

class Aborter extends Agent {
  values: i32[] = [1, 2, 3, 4];
  step(ctx: Context): i32 {
    let v = this.values[ctx.tick == 5 ? 9 : 0]; // index 9: out of range
    return v > 0 ? OK : 1;
  }
}

register(new Aborter());
