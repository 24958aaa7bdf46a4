import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newProject } from '../../runtime/cli/new.ts';
import { CLI } from '../helpers/cli.ts';
import { startProxy } from '../helpers/proxy.ts';
import { echoHandler, startUpstream } from '../helpers/servers.ts';

/**
 * `sluice new` end to end, as a filter author meets it: create a project, `npm install` it (the
 * `file:` links to this checkout plus assemblyscript from the npm cache: no network needed when the
 * cache is warm, as after this repository's own install), `npm test` (which builds with `sluice
 * build` and runs the scaffold's harness tests), then run the module in Sluice with the scaffold's
 * envoy.yaml and hot-deploy a rebuilt version with `sluice deploy`.
 *
 * npm install is real, not simulated with symlinks: it takes about 5-10 s here, within budget.
 */
const REPO = realpathSync(fileURLToPath(new URL('../..', import.meta.url)));
const NAME = 'demo';
const parent = mkdtempSync(join(tmpdir(), 'sluice-new-'));
process.on('exit', () => rmSync(parent, { recursive: true, force: true }));
const project = join(parent, NAME);

/** The environment a user's shell would give: Node 24 first on PATH, none of this test run's npm or node:test variables. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // NODE_TEST_CONTEXT would make the project's `node --test` report to this runner instead of its stdout.
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_TEST_CONTEXT') continue;
    env[k] = v;
  }
  env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
  return env;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(file: string, args: string[], cwd: string, timeout = 180_000): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: userEnv(), timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

const sluice = (args: string[], cwd: string) => run(process.execPath, [CLI, ...args], cwd);
const npm = (args: string[]) => run('npm', args, project);

let created: Run;
let tested = false;

before(async () => {
  created = await sluice(['new', NAME, '--dir', parent], tmpdir());
});

test('sluice new refuses an invalid name (exit 2) and a non-empty target directory (exit 1)', async () => {
  // In-process: the function the CLI's `new` command runs.
  for (const name of ['Demo', '1demo', 'a/b', 'x'.repeat(65), '']) {
    let stderr = '';
    const code = await newProject([name, '--dir', parent], () => {}, (s) => (stderr += s));
    assert.equal(code, 2, `${JSON.stringify(name)}: ${stderr}`);
    assert.match(stderr, /invalid project name|Usage|sluice new NAME/);
  }
  assert.equal(await newProject([], () => {}, () => {}), 2);
  const occupied = join(parent, 'occupied');
  mkdirSync(occupied);
  writeFileSync(join(occupied, 'keep.txt'), 'mine');
  const r = await sluice(['new', 'occupied', '--dir', parent], parent);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already exists and is not empty/);
  assert.equal(readFileSync(join(occupied, 'keep.txt'), 'utf8'), 'mine');
  assert.equal(existsSync(join(occupied, 'package.json')), false);
});

test('sluice new writes the project with file: dependencies on this Sluice and its SDK', () => {
  assert.equal(created.code, 0, created.stderr);
  const files = ['.gitignore', 'README.md', 'asconfig.json', 'assembly/index.ts', 'assembly/tsconfig.json', 'envoy.yaml', 'package.json', 'test/filter.test.ts'];
  for (const f of files) assert.ok(existsSync(join(project, f)), f);
  assert.match(created.stdout, /npm install\n {2}npm test/);
  const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as {
    name: string;
    scripts: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  assert.equal(pkg.name, NAME);
  assert.equal(pkg.scripts.build, 'sluice build');
  assert.match(pkg.scripts.test, /^node --test test\/filter\.test\.ts$/);
  assert.equal(pkg.devDependencies.sluice, `file:${REPO}`);
  assert.equal(pkg.devDependencies['@sluice/sdk'], `file:${join(REPO, 'sdk')}`);
  assert.match(pkg.devDependencies.assemblyscript, /^\^0\.28\./);
  const readme = readFileSync(join(project, 'README.md'), 'utf8');
  for (const step of ['npm install', 'npm test', 'npm run build', 'npx sluice run -c envoy.yaml', `npx sluice deploy ${NAME} build/${NAME}.wasm`]) {
    assert.ok(readme.includes(step), `README explains ${step}`);
  }
  assert.doesNotMatch(readFileSync(join(project, 'assembly', 'index.ts'), 'utf8'), /\{\{/, 'no placeholder left');
});

test('npm install, then npm test (sluice build + harness tests) pass in the new project', async (t) => {
  assert.equal(created.code, 0, created.stderr);
  const lockBefore = hash(join(REPO, 'package-lock.json'));
  const install = await npm(['install', '--prefer-offline']);
  assert.equal(install.code, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
  t.diagnostic(`npm install: ${Math.round(install.ms)} ms`);
  assert.equal(hash(join(REPO, 'package-lock.json')), lockBefore, 'installing the project leaves this repository untouched');

  const testRun = await npm(['test']);
  assert.equal(testRun.code, 0, `npm test failed:\n${testRun.stdout}\n${testRun.stderr}`);
  tested = true;
  assert.match(testRun.stdout, new RegExp(`build/${NAME}\\.wasm {2}\\d`), 'pretest built the module');
  assert.ok(existsSync(join(project, 'build', `${NAME}.wasm`)));
  // Reported, not asserted: how long each harness test of the scaffold takes.
  const durations = [...testRun.stdout.matchAll(/^(?:✔ (.+) \((\d+(?:\.\d+)?)ms\)|# Subtest: (.+)|\s+duration_ms: (\d+(?:\.\d+)?))$/gm)];
  t.diagnostic(`npm test: ${Math.round(testRun.ms)} ms in all; per test: ${durations.map((m) => m[0].trim()).join(' | ')}`);
  assert.match(testRun.stdout, /pass 3/);
});

test('the project\'s envoy.yaml passes sluice validate with the built module', async (t) => {
  if (!tested) return t.skip('needs the module npm test builds');
  const r = await sluice(['validate', '-c', 'envoy.yaml'], project);
  assert.equal(r.code, 0, r.stderr);
});

test('npx asc --target release with the project\'s asconfig.json builds the same bytes as sluice build', async (t) => {
  if (!tested) return t.skip('needs npm install and the module npm test builds');
  const built = readFileSync(join(project, 'build', `${NAME}.wasm`));
  rmSync(join(project, 'build'), { recursive: true });
  const r = await run('npx', ['asc', '--target', 'release'], project);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(project, 'build', `${NAME}.wasm`)).equals(built));
});

test('the filter serves through Sluice with the project\'s envoy.yaml, and sluice deploy swaps in a rebuilt version', async (t) => {
  if (!tested) return t.skip('needs the module npm test builds');
  const up = await startUpstream(t, echoHandler());
  const wasm = join(project, 'build', `${NAME}.wasm`);
  const yaml = readFileSync(join(project, 'envoy.yaml'), 'utf8')
    .replace('port_value: 9901', 'port_value: 0')
    .replace('port_value: 10000', 'port_value: 0')
    .replace('port_value: 8080', `port_value: ${up.port}`)
    .replace(`filename: build/${NAME}.wasm`, `filename: ${JSON.stringify(wasm)}`);
  const p = await startProxy(t, yaml);
  const first = await fetch(p.url('/'));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-hello'), 'world');
  assert.equal(first.headers.get('x-version'), null);
  await first.arrayBuffer();

  // Edit, rebuild (a debug build is quicker), deploy: the README's loop.
  const source = join(project, 'assembly', 'index.ts');
  const edited = readFileSync(source, 'utf8').replace('responseHeaders.set(this.plugin.header, this.plugin.value);', '$&\n    responseHeaders.set("x-version", "2");');
  assert.ok(edited.includes('x-version'));
  writeFileSync(source, edited);
  const rebuilt = await sluice(['build', '--debug'], project);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  const deployed = await sluice(['deploy', NAME, `build/${NAME}.debug.wasm`, '--admin', p.admin('')], project);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stdout, new RegExp(`^${NAME}: now serving generation 2`));
  const second = await fetch(p.url('/'));
  assert.equal(second.headers.get('x-hello'), 'world');
  assert.equal(second.headers.get('x-version'), '2');
  await second.arrayBuffer();
});

function hash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
