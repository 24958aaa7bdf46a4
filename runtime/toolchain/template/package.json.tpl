{
  "name": "{{name}}",
  "version": "0.1.0",
  "description": "A proxy-wasm HTTP filter in AssemblyScript, for Sluice and Envoy.",
  "private": true,
  "type": "module",
  "ascMain": "assembly/index.ts",
  "engines": {
    "node": ">=22.18"
  },
  "scripts": {
    "build": "sluice build",
    "pretest": "sluice build",
    "test": "node --test test/filter.test.ts"
  },
  "devDependencies": {
    "@sluice/sdk": "{{sdkDependency}}",
    "assemblyscript": "^{{ascVersion}}",
    "sluice": "{{sluiceDependency}}"
  }
}
