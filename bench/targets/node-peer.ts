import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { whenReady, type Target } from './target.ts';

/** A peer proxy written for Node: a script in bench/peers/ run with the bench's Node 24. */

export interface NodePeerOptions {
  name: string;
  label: string;
  /** File name in bench/peers/. */
  script: string;
  detail: string;
}

export function nodePeerTarget(o: NodePeerOptions): Target {
  return {
    name: o.name,
    label: o.label,
    async start(env) {
      const port = await freePort();
      const proc = env.children.start({
        name: o.label,
        command: env.nodePath,
        args: [join(env.benchDir, 'peers', o.script), '--port', String(port), '--upstream', `http://127.0.0.1:${env.upstreamPort}`],
        cpus: env.pin.proxy,
      });
      return whenReady(env, proc, { port, detail: o.detail });
    },
  };
}
