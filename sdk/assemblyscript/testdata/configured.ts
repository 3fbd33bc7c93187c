// configured: a test agent that reads its config (the topology's config:)
// at init with config(), configString() and configInto(), checks they
// agree, and writes it to its state region "config" at every step. Grants:
// state.write (and log, for the default abort handler).
import { Agent, Context, OK, register, config, configInto, configString, stateWrite } from "../lockstep";
export {
  lockstep_abi_version, agent_alloc, agent_init, agent_receive, agent_step, agent_shutdown,
} from "../lockstep";

class Configured extends Agent {
  cfg: Uint8Array = new Uint8Array(0);
  init(): i32 {
    let b = Uint8Array.wrap(config());
    if (String.UTF8.encode(configString()).byteLength != b.length) return 9;
    let head = new Uint8Array(4); // configInto cuts: it returns the full length
    if (configInto(head) != b.length) return 10;
    for (let i = 0; i < min(4, b.length); i++) if (head[i] != b[i]) return 11;
    this.cfg = b;
    return OK;
  }
  step(ctx: Context): i32 { return stateWrite("config", this.cfg); }
}

register(new Configured());
