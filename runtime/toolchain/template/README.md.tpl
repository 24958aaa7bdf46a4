# {{name}}

A [proxy-wasm](https://github.com/proxy-wasm/spec) HTTP filter written in AssemblyScript with the
Sluice SDK (`@sluice/sdk`). It adds one header to every response, taken from its JSON
configuration:

```json
{"header": "x-hello", "value": "world"}
```

The compiled module imports only standard proxy-wasm ABI 0.2.1 functions, so the same
`build/{{name}}.wasm` runs in Sluice and in Envoy.

| file | what it is |
| --- | --- |
| `assembly/index.ts` | the filter: a root context (reads the configuration) and an HTTP context per stream |
| `test/filter.test.ts` | unit tests: the built module run in-process by `sluice/testing` |
| `envoy.yaml` | a proxy config running the filter in front of an upstream on 127.0.0.1:8080 |
| `asconfig.json` | the same build for `npx asc --target release` and editors |

## Develop

Needs Node.js 24 (22.18 or later).

```sh
npm install        # sluice, @sluice/sdk and the AssemblyScript compiler
npm test           # builds build/{{name}}.wasm, then runs test/filter.test.ts (milliseconds per test)
npm run build      # only the build: build/{{name}}.wasm (optimised); `npx sluice build --debug` keeps names for traces
```

A compile error is reported as `assembly/index.ts:LINE:COLUMN: error TSnnnn: message`. The SDK's
API, with an example per function, is in `node_modules/@sluice/sdk/README.md`.

## Run it in Sluice

Start something to proxy to on port 8080, for example:

```sh
node -e "require('node:http').createServer((req, res) => res.end('hello\n')).listen(8080)"
```

then, in this directory:

```sh
npx sluice run -c envoy.yaml
curl -i http://127.0.0.1:10000/        # x-hello: world
```

Change the header in `envoy.yaml` (`configuration.value`) and Sluice applies it live.

## Deploy a new version while it runs

Edit `assembly/index.ts`, then `npm run build`: Sluice watches `build/{{name}}.wasm` and swaps the
new module in without dropping a request (a module that fails to load or to configure is refused
and the old one keeps serving). To push a module explicitly through the admin API instead:

```sh
npx sluice deploy {{name}} build/{{name}}.wasm
npx sluice deploy {{name}} --rollback       # back to the previous version
```

## Run it in Envoy

`envoy -c envoy.yaml` from this directory runs the same module (Envoy resolves `build/{{name}}.wasm`
against its working directory).

## Where the dependencies come from

`sluice` and `@sluice/sdk` are `file:` dependencies on the Sluice checkout that created this
project ({{sluiceDir}}). If that checkout moves, update the two paths in `package.json` and run
`npm install` again.
