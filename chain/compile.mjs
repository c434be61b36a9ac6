// Runs solcjs (npm `solc`, pinned in package.json) on a standard-JSON input read from stdin and
// writes the standard-JSON output to stdout. chain/build.py prepares the input and the artifacts.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const solc = require("solc");

const input = readFileSync(0, "utf8");
process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(solc.compile(input)) }));
