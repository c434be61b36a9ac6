pragma circom 2.1.0;

// Development storage-proof circuit for codex-sales-temporal (see README.md in this directory).
// Public inputs, in Codex's order: [entropy, dataSetRoot, slotIndex].
// It proves: (1) slotRoot sits at leaf `slotIndex` of the dataset tree whose root is dataSetRoot;
// (2) for each sample j, the cell at index (Poseidon(entropy, slotRoot, j + 1) mod 2^slotDepth)
//     hashes (Poseidon over its field elements) to a leaf of the slot tree rooted at slotRoot.
// Includes resolve against ./circomlib (the build script copies circomlib there; circom2 cannot
// see files above its working directory).

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";

// Root of a binary Poseidon(2) Merkle tree from a leaf, its path bits (LSB = bottom level,
// 1 = the running node is the right child) and the siblings, bottom-up.
template MerkleRootFromPath(depth) {
    signal input leaf;
    signal input pathBits[depth];
    signal input siblings[depth];
    signal output root;

    signal cur[depth + 1];
    signal left[depth];
    component hash[depth];
    cur[0] <== leaf;
    for (var i = 0; i < depth; i++) {
        pathBits[i] * (1 - pathBits[i]) === 0;
        left[i] <== cur[i] + pathBits[i] * (siblings[i] - cur[i]);
        hash[i] = Poseidon(2);
        hash[i].inputs[0] <== left[i];
        hash[i].inputs[1] <== siblings[i] + cur[i] - left[i];
        cur[i + 1] <== hash[i].out;
    }
    root <== cur[depth];
}

template StorageProof(nSamples, cellElems, slotDepth, datasetDepth) {
    signal input entropy;
    signal input dataSetRoot;
    signal input slotIndex;

    signal input slotRoot;
    signal input slotProof[datasetDepth];
    signal input cellData[nSamples][cellElems];
    signal input merklePaths[nSamples][slotDepth];

    // (1) the slot root belongs to the dataset root at position slotIndex (< 2^datasetDepth).
    component indexBits = Num2Bits(datasetDepth);
    indexBits.in <== slotIndex;
    component slotPath = MerkleRootFromPath(datasetDepth);
    slotPath.leaf <== slotRoot;
    for (var i = 0; i < datasetDepth; i++) {
        slotPath.pathBits[i] <== indexBits.out[i];
        slotPath.siblings[i] <== slotProof[i];
    }
    slotPath.root === dataSetRoot;

    // (2) each challenged cell belongs to the slot root.
    component indexHash[nSamples];
    component hashBits[nSamples];
    component cellHash[nSamples];
    component cellPath[nSamples];
    for (var j = 0; j < nSamples; j++) {
        indexHash[j] = Poseidon(3);
        indexHash[j].inputs[0] <== entropy;
        indexHash[j].inputs[1] <== slotRoot;
        indexHash[j].inputs[2] <== j + 1;
        // strict decomposition: exactly one bit pattern per field element, so the prover
        // cannot pick the cell index.
        hashBits[j] = Num2Bits_strict();
        hashBits[j].in <== indexHash[j].out;

        cellHash[j] = Poseidon(cellElems);
        for (var e = 0; e < cellElems; e++) {
            cellHash[j].inputs[e] <== cellData[j][e];
        }
        cellPath[j] = MerkleRootFromPath(slotDepth);
        cellPath[j].leaf <== cellHash[j].out;
        for (var i = 0; i < slotDepth; i++) {
            cellPath[j].pathBits[i] <== hashBits[j].out[i];
            cellPath[j].siblings[i] <== merklePaths[j][i];
        }
        cellPath[j].root === slotRoot;
    }
}

component main {public [entropy, dataSetRoot, slotIndex]} = StorageProof(2, 8, 8, 4);
