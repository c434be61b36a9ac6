// One Groth16 proof with snarkjs: witness from the circuit's wasm, then prove with the zkey.
// stdin: {"wasm": path, "zkey": path, "input": {...circuit input...}}
// stdout: {"proof": {...snarkjs proof.json...}, "publicSignals": [...]}
// Exit 2 = the witness could not be computed (a constraint failed: the data does not match the
// commitment); exit 1 = any other failure. Written for codex-sales-temporal's snarkjs backend.
"use strict";
const snarkjs = require("snarkjs");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function main() {
  const job = await readStdin();
  const wtns = { type: "mem" };
  try {
    await snarkjs.wtns.calculate(job.input, job.wasm, wtns);
  } catch (err) {
    process.stderr.write(`witness: ${err && err.message ? err.message : err}\n`);
    process.exit(2);
  }
  const { proof, publicSignals } = await snarkjs.groth16.prove(job.zkey, wtns);
  process.stdout.write(JSON.stringify({ proof, publicSignals }));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`prove: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
