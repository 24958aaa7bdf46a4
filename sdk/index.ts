// Package entry for `import ... from "@sluice/sdk"` (asc resolves a bare package to its index.ts).
export * from "./assembly/index";
