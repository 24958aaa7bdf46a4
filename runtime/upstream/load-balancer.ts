import type { Host } from './host.ts';
import type { LbPolicy } from '../config/types.ts';

/**
 * Host selection over one priority level. Weights are honoured by every policy:
 * ROUND_ROBIN is smooth weighted round robin (each host gets its weight's share, interleaved),
 * LEAST_REQUEST is Envoy's power-of-N-choices for equal weights and weight / (active + 1)^bias
 * for unequal weights, RANDOM is weighted random.
 */
export interface LoadBalancer {
  pick(): Host | undefined;
}

export function createLoadBalancer(
  policy: LbPolicy,
  hosts: readonly Host[],
  opts: { random?: () => number; choiceCount?: number; activeRequestBias?: number } = {},
): LoadBalancer {
  const random = opts.random ?? Math.random;
  if (hosts.length === 0) return { pick: () => undefined };
  if (hosts.length === 1) {
    const only = hosts[0];
    return { pick: () => only };
  }
  const equal = hosts.every((h) => h.weight === hosts[0].weight);
  switch (policy) {
    case 'ROUND_ROBIN':
      return equal ? new RoundRobin(hosts) : new SmoothWeightedRoundRobin(hosts);
    case 'RANDOM':
      return equal ? { pick: () => hosts[Math.floor(random() * hosts.length)] } : new WeightedRandom(hosts, random);
    case 'LEAST_REQUEST':
      return equal
        ? new PowerOfChoices(hosts, Math.max(2, opts.choiceCount ?? 2), random)
        : new WeightedLeastRequest(hosts, opts.activeRequestBias ?? 1, random);
  }
}

class RoundRobin implements LoadBalancer {
  #hosts: readonly Host[];
  #next = 0;
  constructor(hosts: readonly Host[]) {
    this.#hosts = hosts;
  }
  pick(): Host {
    const h = this.#hosts[this.#next];
    this.#next = (this.#next + 1) % this.#hosts.length;
    return h;
  }
}

class SmoothWeightedRoundRobin implements LoadBalancer {
  #hosts: readonly Host[];
  #current: number[];
  #total: number;
  constructor(hosts: readonly Host[]) {
    this.#hosts = hosts;
    this.#current = hosts.map(() => 0);
    this.#total = hosts.reduce((s, h) => s + h.weight, 0);
  }
  pick(): Host {
    let best = 0;
    for (let i = 0; i < this.#hosts.length; i++) {
      this.#current[i] += this.#hosts[i].weight;
      if (this.#current[i] > this.#current[best]) best = i;
    }
    this.#current[best] -= this.#total;
    return this.#hosts[best];
  }
}

class WeightedRandom implements LoadBalancer {
  #hosts: readonly Host[];
  #cumulative: number[];
  #random: () => number;
  constructor(hosts: readonly Host[], random: () => number) {
    this.#hosts = hosts;
    this.#random = random;
    let sum = 0;
    this.#cumulative = hosts.map((h) => (sum += h.weight));
  }
  pick(): Host {
    const total = this.#cumulative[this.#cumulative.length - 1];
    const r = this.#random() * total;
    for (let i = 0; i < this.#cumulative.length; i++) if (r < this.#cumulative[i]) return this.#hosts[i];
    return this.#hosts[this.#hosts.length - 1];
  }
}

class PowerOfChoices implements LoadBalancer {
  #hosts: readonly Host[];
  #choices: number;
  #random: () => number;
  constructor(hosts: readonly Host[], choices: number, random: () => number) {
    this.#hosts = hosts;
    this.#choices = choices;
    this.#random = random;
  }
  pick(): Host {
    const n = this.#hosts.length;
    let best = this.#hosts[Math.floor(this.#random() * n)];
    for (let i = 1; i < this.#choices; i++) {
      const c = this.#hosts[Math.floor(this.#random() * n)];
      if (c.activeRequests < best.activeRequests) best = c;
    }
    return best;
  }
}

class WeightedLeastRequest implements LoadBalancer {
  #hosts: readonly Host[];
  #bias: number;
  #random: () => number;
  constructor(hosts: readonly Host[], bias: number, random: () => number) {
    this.#hosts = hosts;
    this.#bias = bias;
    this.#random = random;
  }
  pick(): Host {
    const eff = this.#hosts.map((h) => h.weight / Math.pow(h.activeRequests + 1, this.#bias));
    const total = eff.reduce((s, w) => s + w, 0);
    let r = this.#random() * total;
    for (let i = 0; i < eff.length; i++) {
      r -= eff[i];
      if (r < 0) return this.#hosts[i];
    }
    return this.#hosts[this.#hosts.length - 1];
  }
}
