pragma circom 2.1.0;

// Codex's storage-proof statement, written for this project from the README of
// codex-storage/codex-storage-proofs-circuits (see proofs/README.md, "Codex proof system").
// The Python side that produces its input is proofs/poseidon2/circuit_input.py.
//
// Public inputs, in the marketplace's order: [entropy, dataSetRoot, slotIndex]. It proves:
//  1. slotRoot is leaf slotIndex of the dataset tree (nSlotsPerDataSet leaves, keyed Poseidon2
//     compression with the bottom-layer and odd-node keys) whose root is dataSetRoot;
//  2. nCellsPerSlot is a power of two 2^k, 2 <= 2^k <= 2^maxDepth;
//  3. for counter j = 1..nSamples the cell index is sponge2([entropy, slotRoot, j]) mod 2^k
//     (all 254 bits decomposed, so the prover cannot choose the index), and the sampled cell's
//     field elements hash (rate-2 sponge) to a leaf that opens, through its depth-5 block tree
//     and the slot tree over block hashes, to slotRoot.
//
// Includes resolve against ./circomlib (the build copies circomlib next to this file).

include "circomlib/circuits/bitify.circom";
include "poseidon2_constants.circom";

template Pow5() {
    signal input in;
    signal output out;
    signal x2;
    signal x4;
    x2 <== in * in;
    x4 <== x2 * x2;
    out <== x4 * in;
}

// The Poseidon2 permutation: linear layer, 4 full rounds, 56 partial rounds, 4 full rounds.
// External matrix circ(2,1,1): x_i + (x_0 + x_1 + x_2); internal [[2,1,1],[1,2,1],[1,1,3]].
template Poseidon2Perm() {
    signal input in[3];
    signal output out[3];
    var INITIAL[4][3] = P2_INITIAL();
    var INTERNAL[56] = P2_INTERNAL();
    var FINAL[4][3] = P2_FINAL();
    component full[8][3];
    component part[56];

    var s = in[0] + in[1] + in[2];
    var st[3] = [in[0] + s, in[1] + s, in[2] + s];
    for (var r = 0; r < 8; r++) {
        if (r == 4) {
            for (var j = 0; j < 56; j++) {
                part[j] = Pow5();
                part[j].in <== st[0] + INTERNAL[j];
                var t = part[j].out + st[1] + st[2];
                st = [part[j].out + t, st[1] + t, 2 * st[2] + t];
            }
        }
        for (var i = 0; i < 3; i++) {
            full[r][i] = Pow5();
            full[r][i].in <== st[i] + (r < 4 ? INITIAL[r][i] : FINAL[r - 4][i]);
        }
        var u = full[r][0].out + full[r][1].out + full[r][2].out;
        st = [full[r][0].out + u, full[r][1].out + u, full[r][2].out + u];
    }
    out[0] <== st[0];
    out[1] <== st[1];
    out[2] <== st[2];
}

// Keyed compression: the first element of permutation(x, y, key).
template KeyedCompress() {
    signal input inp[2];
    signal input key;
    signal output out;
    component p = Poseidon2Perm();
    p.in[0] <== inp[0];
    p.in[1] <== inp[1];
    p.in[2] <== key;
    out <== p.out[0];
}

// Sponge with rate 2 over n field elements: state (0, 0, 2^64 + 256*3 + 2), padding 10*
// (one 1, then a 0 to fill the last pair when needed); the output is the first element.
template SpongeRate2(n) {
    signal input inp[n];
    signal output out;
    var m = (n + 2) \ 2;
    component p[m];
    for (var j = 0; j < m; j++) {
        var a = 0;
        var b = 0;
        if (2 * j < n) { a = inp[2 * j]; } else { a = 1; }
        if (2 * j + 1 < n) { b = inp[2 * j + 1]; } else if (2 * j + 1 == n) { b = 1; }
        p[j] = Poseidon2Perm();
        if (j == 0) {
            p[j].in[0] <== a;
            p[j].in[1] <== b;
            p[j].in[2] <== 18446744073709552386;
        } else {
            p[j].in[0] <== p[j - 1].out[0] + a;
            p[j].in[1] <== p[j - 1].out[1] + b;
            p[j].in[2] <== p[j - 1].out[2];
        }
    }
    out <== p[m - 1].out[0];
}

// inp = 2^k with 1 <= k <= n; mask[i] = 1 iff 2^i < inp (so mask = [1]*k + [0]*(n+1-k)).
template PowerOfTwoMask(n) {
    signal input inp;
    signal output mask[n + 1];
    for (var i = 0; i <= n; i++) {
        mask[i] <-- (2 ** i < inp) ? 1 : 0;
        mask[i] * (mask[i] - 1) === 0;
    }
    mask[0] === 1;
    mask[n] === 0;
    var sum = 0;
    for (var i = 0; i < n; i++) {
        mask[i + 1] * (1 - mask[i]) === 0;  // ones, then zeros
        sum += (2 ** (i + 1)) * (mask[i] - mask[i + 1]);
    }
    inp === sum;
}

// Root from a leaf and its Merkle path under Codex's conventions, for a tree of up to 2^depth
// leaves. pathBits: the leaf index (LSB first); lastBits: the last leaf's index (size - 1);
// mask[i] = 1 iff level i is below the root (mask[depth] = 0). A node is odd (key bit 1) when it
// is a left child on the path of the last leaf; its sibling in `path` is then 0. A one-leaf tree
// (mask all 0) is still compressed once, as the spec says: the root is taken at level
// max(1, depth of the tree). Bits must be boolean (the caller's job).
template MerkleRoot(depth) {
    signal input leaf;
    signal input pathBits[depth];
    signal input lastBits[depth];
    signal input mask[depth + 1];
    signal input path[depth];
    signal output root;

    signal both[depth];
    signal isLast[depth + 1];
    isLast[depth] <== 1;
    for (var i = depth - 1; i >= 0; i--) {
        both[i] <== pathBits[i] * lastBits[i];
        // equal bits: 1 - a - b + 2ab
        isLast[i] <== isLast[i + 1] * (1 - pathBits[i] - lastBits[i] + 2 * both[i]);
    }

    signal node[depth + 1];
    signal odd[depth];
    signal swap[depth];
    component c[depth];
    node[0] <== leaf;
    for (var i = 0; i < depth; i++) {
        odd[i] <== isLast[i] * (1 - pathBits[i]);
        swap[i] <== (path[i] - node[i]) * pathBits[i];
        c[i] = KeyedCompress();
        c[i].inp[0] <== node[i] + swap[i];
        c[i].inp[1] <== path[i] - swap[i];
        c[i].key <== (i == 0 ? 1 : 0) + 2 * odd[i];
        node[i + 1] <== c[i].out;
    }

    signal pick[depth];
    var sum = 0;
    for (var i = 0; i < depth; i++) {
        var here = (i == 0 ? 1 : mask[i]) - mask[i + 1];
        pick[i] <== here * node[i + 1];
        sum += pick[i];
    }
    root <== sum;
}

template CodexStorageProof(maxDepth, maxLog2NSlots, blockTreeDepth, nFieldElemsPerCell, nSamples) {
    signal input entropy;
    signal input dataSetRoot;
    signal input slotIndex;
    signal input slotRoot;
    signal input nSlotsPerDataSet;
    signal input nCellsPerSlot;
    signal input slotProof[maxLog2NSlots];
    signal input cellData[nSamples][nFieldElemsPerCell];
    signal input merklePaths[nSamples][maxDepth];

    // 1. the slot root in the dataset tree
    component slotBits = Num2Bits(maxLog2NSlots);
    slotBits.in <== slotIndex;
    component lastSlot = Num2Bits(maxLog2NSlots);
    lastSlot.in <== nSlotsPerDataSet - 1;
    signal slotMask[maxLog2NSlots + 1];  // ceil(log2 nSlots): 1 while a higher bit of nSlots-1 is set
    slotMask[maxLog2NSlots] <== 0;
    for (var i = maxLog2NSlots - 1; i >= 0; i--) {
        slotMask[i] <== slotMask[i + 1] + lastSlot.out[i] - slotMask[i + 1] * lastSlot.out[i];
    }
    component top = MerkleRoot(maxLog2NSlots);
    top.leaf <== slotRoot;
    top.pathBits <== slotBits.out;
    top.lastBits <== lastSlot.out;
    top.mask <== slotMask;
    top.path <== slotProof;
    top.root === dataSetRoot;

    // 2. the slot's size
    component cells = PowerOfTwoMask(maxDepth);
    cells.inp <== nCellsPerSlot;

    // 3. the samples
    component index[nSamples];
    component bits[nSamples];
    component cellHash[nSamples];
    component blockTree[nSamples];
    component slotTree[nSamples];
    signal indexBits[nSamples][maxDepth];
    var midDepth = maxDepth - blockTreeDepth;
    for (var s = 0; s < nSamples; s++) {
        index[s] = SpongeRate2(3);
        index[s].inp[0] <== entropy;
        index[s].inp[1] <== slotRoot;
        index[s].inp[2] <== s + 1;
        bits[s] = Num2Bits_strict();
        bits[s].in <== index[s].out;
        for (var i = 0; i < maxDepth; i++) {
            indexBits[s][i] <== bits[s].out[i] * cells.mask[i];
        }

        cellHash[s] = SpongeRate2(nFieldElemsPerCell);
        cellHash[s].inp <== cellData[s];

        // a block is a full tree of 2^blockTreeDepth cells
        blockTree[s] = MerkleRoot(blockTreeDepth);
        blockTree[s].leaf <== cellHash[s].out;
        for (var i = 0; i < blockTreeDepth; i++) {
            blockTree[s].pathBits[i] <== indexBits[s][i];
            blockTree[s].lastBits[i] <== 1;
            blockTree[s].mask[i] <== 1;
            blockTree[s].path[i] <== merklePaths[s][i];
        }
        blockTree[s].mask[blockTreeDepth] <== 0;

        // the slot tree over block hashes: 2^(k - blockTreeDepth) leaves, last index = all ones
        slotTree[s] = MerkleRoot(midDepth);
        slotTree[s].leaf <== blockTree[s].root;
        for (var i = 0; i < midDepth; i++) {
            slotTree[s].pathBits[i] <== indexBits[s][blockTreeDepth + i];
            slotTree[s].lastBits[i] <== cells.mask[blockTreeDepth + i];
            slotTree[s].mask[i] <== cells.mask[blockTreeDepth + i];
            slotTree[s].path[i] <== merklePaths[s][blockTreeDepth + i];
        }
        slotTree[s].mask[midDepth] <== 0;
        slotTree[s].root === slotRoot;
    }
}
