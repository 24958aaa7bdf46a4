{
  "extends": "assemblyscript/std/assembly.json",
  "include": ["./**/*.ts"]
}
