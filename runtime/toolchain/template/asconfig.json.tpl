{
  "extends": "./node_modules/@sluice/sdk/asconfig.json",
  "entries": ["assembly/index.ts"],
  "targets": {
    "debug": {
      "outFile": "build/{{name}}.debug.wasm"
    },
    "release": {
      "outFile": "build/{{name}}.wasm",
      "optimizeLevel": 3,
      "shrinkLevel": 1,
      "converge": false
    }
  }
}
