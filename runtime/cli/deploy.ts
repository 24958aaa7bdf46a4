import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export const DEPLOY_USAGE = `sluice deploy NAME FILE.wasm [--admin URL]
  Pushes FILE.wasm to a running Sluice as the next version of wasm plugin NAME (POST
  /wasm/plugins/NAME on the admin address; default http://127.0.0.1:9901) and prints the outcome.
  Exit 0 when the new version is live, 1 when it was refused (the old one keeps serving).
sluice deploy NAME --rollback [--admin URL]
  Returns plugin NAME to its previous version.`;

/** `sluice deploy`: returns the process exit code. */
export async function deploy(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { admin: { type: 'string' }, rollback: { type: 'boolean' }, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    err(`${(e as Error).message}\n\n${DEPLOY_USAGE}\n`);
    return 2;
  }
  const [name, file] = parsed.positionals;
  const rollback = parsed.values.rollback === true;
  if (name === undefined || (rollback ? file !== undefined : file === undefined) || parsed.positionals.length > 2) {
    err(`${DEPLOY_USAGE}\n`);
    return 2;
  }
  const admin = (parsed.values.admin ?? 'http://127.0.0.1:9901').replace(/\/+$/, '');
  let body: Uint8Array | undefined;
  if (!rollback) {
    try {
      body = readFileSync(file as string);
    } catch (e) {
      err(`sluice deploy: cannot read ${file}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const url = `${admin}/wasm/plugins/${encodeURIComponent(name)}${rollback ? '/rollback' : ''}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body: body as Uint8Array<ArrayBuffer> | undefined, signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    err(`sluice deploy: cannot reach the admin API at ${admin}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  let result: { ok?: boolean; generation?: number; sha256?: string; error?: string; unchanged?: boolean };
  try {
    result = JSON.parse(text);
  } catch {
    err(`sluice deploy: ${res.status} from ${url}: ${text.trim()}\n`);
    return 1;
  }
  if (parsed.values.json === true) out(`${JSON.stringify(result)}\n`);
  if (result.ok === true) {
    if (parsed.values.json !== true) {
      const what = rollback ? 'rolled back to' : result.unchanged ? 'already running' : 'now serving';
      out(`${name}: ${what} generation ${result.generation} (sha256 ${result.sha256})\n`);
    }
    return 0;
  }
  err(`sluice deploy: ${name}: refused (${res.status}): ${result.error ?? text.trim()}\n`);
  return 1;
}
