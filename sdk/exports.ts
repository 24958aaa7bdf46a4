// `export * from "@sluice/sdk/exports"`: the proxy-wasm exports every filter's entry file re-exports.
export * from "./assembly/exports";
