import { startNginx } from '../lib/nginx.ts';
import { freePort } from '../lib/ports.ts';
import { whenReady, type Target } from './target.ts';

/**
 * nginx as a reverse proxy: one worker, HTTP/1.1 keep-alive pool to the upstream. Request
 * bodies are buffered (nginx's default) but in memory, not in temp files.
 */
export const nginxProxy: Target = {
  name: 'nginx',
  label: 'nginx',
  async start(env) {
    const nginxPath = env.tools.nginx.path;
    if (nginxPath === undefined) throw new Error(env.tools.nginx.missing ?? 'nginx not found');
    const port = await freePort();
    const proc = startNginx(env.children, {
      name: 'proxy-nginx',
      nginxPath,
      workDir: env.workDir,
      cpus: env.pin.proxy,
      http: `
client_max_body_size 1m;
client_body_buffer_size 128k;
upstream bench_upstream {
  server 127.0.0.1:${env.upstreamPort};
  keepalive 128;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
}
server {
  listen 127.0.0.1:${port} backlog=4096;
  location / {
    proxy_pass http://bench_upstream;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
  }
}`,
    });
    return whenReady(env, proc, { port, detail: 'worker_processes 1, upstream keepalive 128' });
  },
};
