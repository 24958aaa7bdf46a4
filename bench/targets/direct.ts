import type { Target } from './target.ts';

/** The upstream itself, no proxy: the ceiling every other row is compared against. */
export const direct: Target = {
  name: 'direct',
  label: 'direct (no proxy)',
  start: async (env) => ({ port: env.upstreamPort, detail: 'wrk → upstream', stop: async () => {} }),
};
