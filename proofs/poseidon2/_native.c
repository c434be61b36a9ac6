/*
 * Native Poseidon2 over BN254 (t = 3) for Codex's storage commitments: the hot path.
 *
 * proofs/poseidon2/reference.py is the specification this file is tested against
 * (tests/proofs/test_poseidon2.py). Field elements cross the boundary as 32-byte little-endian
 * canonical values; inside they are 4 x 64-bit limbs in Montgomery form (R = 2^256), kept below
 * 2P between operations (4P < R: products need no final subtraction), canonical only on output.
 * The heavy loops release the GIL, so a download can hash on another thread. On CPUs with
 * AVX512-IFMA, cells and wide Merkle layers go 16 at a time through a vector permutation (see
 * "AVX-512 IFMA" below); elsewhere through the scalar one, 4 cells in lockstep.
 *
 * Functions (all element arguments and results are 32-byte little-endian):
 *   permute(state96) -> state96
 *   permute_many(states96n) -> states96n
 *   simd(flag=-1) -> bool                    query, or turn off (0) / on (1), the IFMA path
 *   compress(x32, y32, key) -> x32
 *   sponge(elems32n, rate) -> x32
 *   hash_bytes(data) -> x32                  rate-2 sponge of the 10*-padded 31-byte chunks
 *   hash_cells(data, cell_size) -> 32*n      one hash per cell; len(data) % cell_size == 0
 *   merkle_layer(nodes32n, bottom) -> 32*ceil(n/2)
 *   merkle_root(nodes32n) -> x32
 *   block_hashes(data, block_size, cell_size) -> 32*m   Merkle root of each block's cell hashes
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the AVX-512 IFMA path below, compiled for its own functions only (gcc's target pragma; clang
   would need its own) and used when the running CPU has it */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(POSEIDON2_PORTABLE)
#define P2_SIMD 1
#endif

typedef uint64_t u64;
typedef unsigned __int128 u128;
typedef struct { u64 v[4]; } fe;

static const u64 P[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL, 0xb85045b68181585dULL,
                         0x30644e72e131a029ULL};
static const u64 P2[4] = {0x87c3eb27e0000002ULL, 0x5067d090f372e122ULL, 0x70a08b6d0302b0baULL,
                          0x60c89ce5c2634053ULL}; /* 2P */
static const u64 PINV = 0xc2e1f593efffffffULL; /* -P^-1 mod 2^64 */
static const fe R2 = {{0x1bb8e645ae216da7ULL, 0x53fe3ab1e35c59e3ULL, 0x8c49833d53bb8085ULL,
                       0x0216d0b17f4e44a5ULL}};

static fe RC_INITIAL[12], RC_INTERNAL[56], RC_FINAL[12];
static fe FE_ONE; /* 1 in Montgomery form */

/* r = s - M if s >= M else s (branchless); M is P or 2P, s < 2M */
#if defined(__x86_64__)
#include <immintrin.h>
static inline void reduce_by(fe *r, u64 s0, u64 s1, u64 s2, u64 s3, const u64 *M) {
    unsigned long long d0, d1, d2, d3;
    unsigned char br;
    br = _subborrow_u64(0, s0, M[0], &d0);
    br = _subborrow_u64(br, s1, M[1], &d1);
    br = _subborrow_u64(br, s2, M[2], &d2);
    br = _subborrow_u64(br, s3, M[3], &d3);
    u64 keep = (u64)0 - br; /* all ones when s < P */
    r->v[0] = (s0 & keep) | (d0 & ~keep);
    r->v[1] = (s1 & keep) | (d1 & ~keep);
    r->v[2] = (s2 & keep) | (d2 & ~keep);
    r->v[3] = (s3 & keep) | (d3 & ~keep);
}
#else
static inline void reduce_by(fe *r, u64 s0, u64 s1, u64 s2, u64 s3, const u64 *M) {
    u128 d;
    u64 borrow, d0, d1, d2, d3;
    d = (u128)s0 - M[0]; d0 = (u64)d; borrow = (u64)(d >> 64) & 1;
    d = (u128)s1 - M[1] - borrow; d1 = (u64)d; borrow = (u64)(d >> 64) & 1;
    d = (u128)s2 - M[2] - borrow; d2 = (u64)d; borrow = (u64)(d >> 64) & 1;
    d = (u128)s3 - M[3] - borrow; d3 = (u64)d; borrow = (u64)(d >> 64) & 1;
    u64 keep = (u64)0 - borrow; /* all ones when s < P */
    r->v[0] = (s0 & keep) | (d0 & ~keep);
    r->v[1] = (s1 & keep) | (d1 & ~keep);
    r->v[2] = (s2 & keep) | (d2 & ~keep);
    r->v[3] = (s3 & keep) | (d3 & ~keep);
}
#endif

static inline void reduce_once(fe *r, u64 s0, u64 s1, u64 s2, u64 s3) {
    reduce_by(r, s0, s1, s2, s3, P);
}

/* a < 2P -> a mod P */
static inline void fe_canon(fe *a) { reduce_once(a, a->v[0], a->v[1], a->v[2], a->v[3]); }

static inline int geq_p(const u64 a[4]) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] > P[i]) return 1;
        if (a[i] < P[i]) return 0;
    }
    return 1;
}

#if defined(__x86_64__) && defined(__BMI2__) && defined(__ADX__) && defined(__GNUC__)
/* x86-64 with MULX/ADCX/ADOX: hand-scheduled Montgomery product (CIOS, two carry chains) and
   modular addition. gcc's code for the C versions below is about 4x longer. Correctness is
   checked against the Python reference (tests/proofs/test_poseidon2.py). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define CIOS_ITER(BOFF, T0, T1, T2, T3, T4)                                   \
    "xorl %%eax, %%eax\n\t"                                                   \
    "movq " STR(BOFF) "(%[b]), %%rdx\n\t"                                     \
    "mulxq 0(%[a]), %%rax, %%rbx\n\t"                                         \
    "adoxq %%rax, %%" T0 "\n\t"                                               \
    "adcxq %%rbx, %%" T1 "\n\t"                                               \
    "mulxq 8(%[a]), %%rax, %%rbx\n\t"                                         \
    "adoxq %%rax, %%" T1 "\n\t"                                               \
    "adcxq %%rbx, %%" T2 "\n\t"                                               \
    "mulxq 16(%[a]), %%rax, %%rbx\n\t"                                        \
    "adoxq %%rax, %%" T2 "\n\t"                                               \
    "adcxq %%rbx, %%" T3 "\n\t"                                               \
    "mulxq 24(%[a]), %%rax, %%rbx\n\t"                                        \
    "adoxq %%rax, %%" T3 "\n\t"                                               \
    "adcxq %%rbx, %%" T4 "\n\t"                                               \
    "movl $0, %%eax\n\t"                                                      \
    "adoxq %%rax, %%" T4 "\n\t"                                               \
    "movq %%" T0 ", %%rdx\n\t"                                                \
    "imulq %[pinv], %%rdx\n\t"                                                \
    "xorl %%eax, %%eax\n\t"                                                   \
    "mulxq %[p0], %%rax, %%rbx\n\t"                                           \
    "adoxq %%rax, %%" T0 "\n\t"                                               \
    "adcxq %%rbx, %%" T1 "\n\t"                                               \
    "mulxq %[p1], %%rax, %%rbx\n\t"                                           \
    "adoxq %%rax, %%" T1 "\n\t"                                               \
    "adcxq %%rbx, %%" T2 "\n\t"                                               \
    "mulxq %[p2], %%rax, %%rbx\n\t"                                           \
    "adoxq %%rax, %%" T2 "\n\t"                                               \
    "adcxq %%rbx, %%" T3 "\n\t"                                               \
    "mulxq %[p3], %%rax, %%rbx\n\t"                                           \
    "adoxq %%rax, %%" T3 "\n\t"                                               \
    "adcxq %%rbx, %%" T4 "\n\t"                                               \
    "movl $0, %%eax\n\t"                                                      \
    "adoxq %%rax, %%" T4 "\n\t"

static inline void fe_mul(fe *r, const fe *a, const fe *b) {
    /* a, b < 2P: t < a + P < 3P < 2^256 after every step (P < 2^254), so 5 limbs suffice and the
       top one is zero again after each reduction: the registers rotate instead of shifting.
       The result (ab + mP) / 2^256 < 4P^2 / 2^256 + P < 2P (4P < 2^256): no final subtraction */
    __asm__(
        "xorl %%r8d, %%r8d\n\t"
        "xorl %%r9d, %%r9d\n\t"
        "xorl %%r10d, %%r10d\n\t"
        "xorl %%r11d, %%r11d\n\t"
        "xorl %%r12d, %%r12d\n\t"
        CIOS_ITER(0, "r8", "r9", "r10", "r11", "r12")
        CIOS_ITER(8, "r9", "r10", "r11", "r12", "r8")
        CIOS_ITER(16, "r10", "r11", "r12", "r8", "r9")
        CIOS_ITER(24, "r11", "r12", "r8", "r9", "r10")
        /* result (r12, r8, r9, r10), < 2P */
        "movq %%r12, 0(%[r])\n\t"
        "movq %%r8, 8(%[r])\n\t"
        "movq %%r9, 16(%[r])\n\t"
        "movq %%r10, 24(%[r])\n\t"
        : "=m"(*(u64(*)[4])r->v)
        : [r] "r"(r->v), [a] "r"(a->v), [b] "r"(b->v), [pinv] "m"(PINV), [p0] "m"(P[0]),
          [p1] "m"(P[1]), [p2] "m"(P[2]), [p3] "m"(P[3]), "m"(*(const u64(*)[4])a->v),
          "m"(*(const u64(*)[4])b->v)
        : "rax", "rbx", "rdx", "r8", "r9", "r10", "r11", "r12", "cc");
}

static inline void fe_add(fe *r, const fe *a, const fe *b) {
    /* a, b < 2P < 2^255: the sum has no carry out of the top limb; less 2P if it is >= 2P */
    __asm__(
        "movq 0(%[a]), %%rax\n\t"
        "movq 8(%[a]), %%rbx\n\t"
        "movq 16(%[a]), %%rdx\n\t"
        "movq 24(%[a]), %%r8\n\t"
        "addq 0(%[b]), %%rax\n\t"
        "adcq 8(%[b]), %%rbx\n\t"
        "adcq 16(%[b]), %%rdx\n\t"
        "adcq 24(%[b]), %%r8\n\t"
        "movq %%rax, %%r9\n\t"
        "movq %%rbx, %%r10\n\t"
        "movq %%rdx, %%r11\n\t"
        "movq %%r8, %%r12\n\t"
        "subq %[p0], %%r9\n\t"
        "sbbq %[p1], %%r10\n\t"
        "sbbq %[p2], %%r11\n\t"
        "sbbq %[p3], %%r12\n\t"
        "cmovcq %%rax, %%r9\n\t"
        "cmovcq %%rbx, %%r10\n\t"
        "cmovcq %%rdx, %%r11\n\t"
        "cmovcq %%r8, %%r12\n\t"
        "movq %%r9, 0(%[r])\n\t"
        "movq %%r10, 8(%[r])\n\t"
        "movq %%r11, 16(%[r])\n\t"
        "movq %%r12, 24(%[r])\n\t"
        : "=m"(*(u64(*)[4])r->v)
        : [r] "r"(r->v), [a] "r"(a->v), [b] "r"(b->v), [p0] "m"(P2[0]), [p1] "m"(P2[1]),
          [p2] "m"(P2[2]), [p3] "m"(P2[3]), "m"(*(const u64(*)[4])a->v),
          "m"(*(const u64(*)[4])b->v)
        : "rax", "rbx", "rdx", "r8", "r9", "r10", "r11", "r12", "cc");
}
#else
static inline void fe_add(fe *r, const fe *a, const fe *b) {
    /* a, b < 2P < 2^255: no carry out of the top limb; the result < 2P */
    u128 s;
    u64 s0, s1, s2, s3;
    s = (u128)a->v[0] + b->v[0]; s0 = (u64)s;
    s = (u128)a->v[1] + b->v[1] + (u64)(s >> 64); s1 = (u64)s;
    s = (u128)a->v[2] + b->v[2] + (u64)(s >> 64); s2 = (u64)s;
    s3 = a->v[3] + b->v[3] + (u64)(s >> 64);
    reduce_by(r, s0, s1, s2, s3, P2);
}

/* Montgomery product, CIOS, of a, b < 2P. P < 2^254, so the running value stays below
   3P < 2^256 and fits in 4 limbs plus a small top word; the result is < 2P (see the asm
   version), no final subtraction. */
static inline void fe_mul(fe *r, const fe *a, const fe *b) {
    u64 t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    const u64 a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
#define CIOS_STEP(bi)                                                   \
    do {                                                                \
        u128 acc;                                                       \
        u64 c, m;                                                       \
        acc = (u128)a0 * (bi) + t0; t0 = (u64)acc; c = (u64)(acc >> 64); \
        acc = (u128)a1 * (bi) + t1 + c; t1 = (u64)acc; c = (u64)(acc >> 64); \
        acc = (u128)a2 * (bi) + t2 + c; t2 = (u64)acc; c = (u64)(acc >> 64); \
        acc = (u128)a3 * (bi) + t3 + c; t3 = (u64)acc; c = (u64)(acc >> 64); \
        t4 += c;                                                        \
        m = t0 * PINV;                                                  \
        acc = (u128)m * P[0] + t0; c = (u64)(acc >> 64);                \
        acc = (u128)m * P[1] + t1 + c; t0 = (u64)acc; c = (u64)(acc >> 64); \
        acc = (u128)m * P[2] + t2 + c; t1 = (u64)acc; c = (u64)(acc >> 64); \
        acc = (u128)m * P[3] + t3 + c; t2 = (u64)acc; c = (u64)(acc >> 64); \
        t3 = t4 + c; t4 = 0;                                            \
    } while (0)
    CIOS_STEP(b->v[0]);
    CIOS_STEP(b->v[1]);
    CIOS_STEP(b->v[2]);
    CIOS_STEP(b->v[3]);
#undef CIOS_STEP
    r->v[0] = t0; r->v[1] = t1; r->v[2] = t2; r->v[3] = t3;
}
#endif

static inline void fe_sbox(fe *x) {
    fe x2, x4;
    fe_mul(&x2, x, x);
    fe_mul(&x4, &x2, &x2);
    fe_mul(x, &x4, x);
}

static void fe_from_bytes_raw(fe *r, const unsigned char *b, size_t n) {
    /* n <= 32 little-endian bytes into plain (non-Montgomery) limbs */
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) r->v[i / 8] |= (u64)b[i] << (8 * (i % 8));
}

static inline void to_mont(fe *r, const fe *a) { fe_mul(r, a, &R2); }

static void fe_to_bytes(unsigned char *out, const fe *a) {
    fe one = {{1, 0, 0, 0}}, c;
    fe_mul(&c, a, &one); /* out of Montgomery form: (a + mP) / 2^256 <= P */
    fe_canon(&c);
    for (int i = 0; i < 32; i++) out[i] = (unsigned char)(c.v[i / 8] >> (8 * (i % 8)));
}

/* 32 canonical bytes -> Montgomery; returns 0 if not < P */
static int fe_from_bytes(fe *r, const unsigned char *b) {
    fe a;
    fe_from_bytes_raw(&a, b, 32);
    if (geq_p(a.v)) return 0;
    to_mont(r, &a);
    return 1;
}

static void permute(fe *x, fe *y, fe *z) {
    fe s;
    fe_add(&s, x, y);
    fe_add(&s, &s, z);
    fe_add(x, x, &s);
    fe_add(y, y, &s);
    fe_add(z, z, &s);
    for (int r = 0; r < 8; r++) {
        const fe *c = r < 4 ? &RC_INITIAL[3 * r] : &RC_FINAL[3 * (r - 4)];
        if (r == 4) {
            for (int j = 0; j < 56; j++) {
                fe_add(x, x, &RC_INTERNAL[j]);
                fe_sbox(x);
                fe_add(&s, x, y);
                fe_add(&s, &s, z);
                fe_add(x, x, &s);
                fe_add(y, y, &s);
                fe_add(z, z, z);
                fe_add(z, z, &s);
            }
        }
        fe_add(x, x, &c[0]);
        fe_add(y, y, &c[1]);
        fe_add(z, z, &c[2]);
        fe_sbox(x);
        fe_sbox(y);
        fe_sbox(z);
        fe_add(&s, x, y);
        fe_add(&s, &s, z);
        fe_add(x, x, &s);
        fe_add(y, y, &s);
        fe_add(z, z, &s);
    }
}

/* The same permutation on LANES independent states in lockstep: the partial rounds are one long
   chain of dependent multiplications, so interleaving independent states keeps the core busy. */
#define LANES 4
static void permute4(fe *x, fe *y, fe *z) {
    fe s[LANES];
    int k;
#define EACH for (k = 0; k < LANES; k++)
    EACH { fe_add(&s[k], &x[k], &y[k]); fe_add(&s[k], &s[k], &z[k]); }
    EACH { fe_add(&x[k], &x[k], &s[k]); fe_add(&y[k], &y[k], &s[k]); fe_add(&z[k], &z[k], &s[k]); }
    for (int r = 0; r < 8; r++) {
        const fe *c = r < 4 ? &RC_INITIAL[3 * r] : &RC_FINAL[3 * (r - 4)];
        if (r == 4) {
            for (int j = 0; j < 56; j++) {
                EACH { fe_add(&x[k], &x[k], &RC_INTERNAL[j]); }
                EACH { fe x2; fe_mul(&x2, &x[k], &x[k]); s[k] = x2; }
                EACH { fe x4; fe_mul(&x4, &s[k], &s[k]); s[k] = x4; }
                EACH { fe_mul(&x[k], &s[k], &x[k]); }
                EACH {
                    fe_add(&s[k], &x[k], &y[k]);
                    fe_add(&s[k], &s[k], &z[k]);
                    fe_add(&x[k], &x[k], &s[k]);
                    fe_add(&y[k], &y[k], &s[k]);
                    fe_add(&z[k], &z[k], &z[k]);
                    fe_add(&z[k], &z[k], &s[k]);
                }
            }
        }
        EACH {
            fe_add(&x[k], &x[k], &c[0]);
            fe_add(&y[k], &y[k], &c[1]);
            fe_add(&z[k], &z[k], &c[2]);
        }
        EACH { fe_sbox(&x[k]); fe_sbox(&y[k]); fe_sbox(&z[k]); }
        EACH {
            fe_add(&s[k], &x[k], &y[k]);
            fe_add(&s[k], &s[k], &z[k]);
            fe_add(&x[k], &x[k], &s[k]);
            fe_add(&y[k], &y[k], &s[k]);
            fe_add(&z[k], &z[k], &s[k]);
        }
    }
#undef EACH
}

static void compress_fe(fe *out, const fe *a, const fe *b, u64 key) {
    fe x = *a, y = *b, z, k = {{key, 0, 0, 0}};
    to_mont(&z, &k);
    permute(&x, &y, &z);
    *out = x;
}

static fe IV_RATE1, IV_RATE2, KEYS[4], FE_ZERO;

/* rate-2 sponge over the 10*-padded 31-byte chunks of data */
static void hash_bytes_fe(fe *out, const unsigned char *data, size_t len) {
    fe x = FE_ZERO, y = FE_ZERO, z = IV_RATE2, e;
    size_t n_elems = len / 31 + 1, off = 0;
    unsigned char last[31];
    int even = 1;
    for (size_t i = 0; i < n_elems; i++) {
        fe raw;
        if (off + 31 <= len) {
            fe_from_bytes_raw(&raw, data + off, 31);
        } else {
            size_t rem = len - off;
            memset(last, 0, sizeof last);
            if (rem) memcpy(last, data + off, rem);
            last[rem] = 1;
            fe_from_bytes_raw(&raw, last, 31);
        }
        off += 31;
        to_mont(&e, &raw);
        if (even) {
            fe_add(&x, &x, &e);
        } else {
            fe_add(&y, &y, &e);
            permute(&x, &y, &z);
        }
        even = !even;
    }
    if (even) fe_add(&x, &x, &FE_ONE);
    else fe_add(&y, &y, &FE_ONE);
    permute(&x, &y, &z);
    *out = x;
}

/* 31-byte chunk `i` of a cell of `len` bytes with 10* padding, into Montgomery form */
static inline void cell_elem(fe *e, const unsigned char *data, size_t len, size_t i) {
    fe raw;
    size_t off = 31 * i;
    if (off + 31 <= len) {
        fe_from_bytes_raw(&raw, data + off, 31);
    } else {
        unsigned char last[31];
        size_t rem = len - off;
        memset(last, 0, sizeof last);
        if (rem) memcpy(last, data + off, rem);
        last[rem] = 1;
        fe_from_bytes_raw(&raw, last, 31);
    }
    to_mont(e, &raw);
}

/* hash_bytes_fe of LANES cells of equal length in lockstep */
static void hash_cells4(fe *out, const unsigned char *const *data, size_t len) {
    fe x[LANES], y[LANES], z[LANES], e;
    size_t n = len / 31 + 1, i;
    for (int k = 0; k < LANES; k++) { x[k] = FE_ZERO; y[k] = FE_ZERO; z[k] = IV_RATE2; }
    for (i = 0; i + 1 < n; i += 2) {
        for (int k = 0; k < LANES; k++) {
            cell_elem(&e, data[k], len, i);
            fe_add(&x[k], &x[k], &e);
            cell_elem(&e, data[k], len, i + 1);
            fe_add(&y[k], &y[k], &e);
        }
        permute4(x, y, z);
    }
    for (int k = 0; k < LANES; k++) {
        if (i < n) {
            cell_elem(&e, data[k], len, i);
            fe_add(&x[k], &x[k], &e);
            fe_add(&y[k], &y[k], &FE_ONE);
        } else {
            fe_add(&x[k], &x[k], &FE_ONE);
        }
    }
    permute4(x, y, z);
    for (int k = 0; k < LANES; k++) out[k] = x[k];
}

/* ------------------------------------------------------------------------------------------ */
/* AVX-512 IFMA: the same permutation on 16 states at once (x86-64 CPUs with AVX512-IFMA, chosen
   at run time). Each limb of a field element is a vector of 8 lanes; values are 5 limbs of 52
   bits in Montgomery form with R' = 2^260, so vpmadd52{lo,hi}uq do the 52 x 52-bit products.
   R' > 84 P leaves room for lazy reduction: a Montgomery product of inputs below 9P is below 2P,
   additions are limb-wise without carries (64-bit lanes have 12 spare bits), and only the two
   cells of the partial rounds that never pass a multiplication (y, z) are brought back below 2P
   each round, by subtracting a multiple of P estimated in floating point from the top limbs.
   Only the last step leaves this representation: outputs are canonical like the scalar path's,
   so the results are the same bits (tests/proofs/test_poseidon2.py checks both paths). */
#if defined(P2_SIMD)
#define NV 2           /* vectors per element: 16 lanes in lockstep */
#define VL (8 * NV)
#define M52 0xfffffffffffffULL
static u64 VP[5], VPINV, VRC_INITIAL[12][5], VRC_INTERNAL[56][5], VRC_FINAL[12][5];
static u64 VONE[5], VIV2[5], VK_PLAIN[5], VK_OUT[5]; /* VK_*: conversion factors */
static double VC_HI, VC_LO; /* 2^208 / P and 2^156 / P */
static int simd_on;

static void split52(u64 out[5], const u64 v[4]) {
    out[0] = v[0] & M52;
    out[1] = ((v[0] >> 52) | (v[1] << 12)) & M52;
    out[2] = ((v[1] >> 40) | (v[2] << 24)) & M52;
    out[3] = ((v[2] >> 28) | (v[3] << 36)) & M52;
    out[4] = v[3] >> 16;
}

static void join52(u64 v[4], const u64 l[5]) {
    v[0] = l[0] | (l[1] << 52);
    v[1] = (l[1] >> 12) | (l[2] << 40);
    v[2] = (l[2] >> 24) | (l[3] << 28);
    v[3] = (l[3] >> 36) | (l[4] << 16);
}

/* a scalar Montgomery value (a * 2^256 mod P, canonical) -> a * 2^260 mod P in 52-bit limbs */
static void to_v(u64 out[5], const fe *m) {
    fe t = *m;
    for (int i = 0; i < 4; i++) fe_add(&t, &t, &t);
    fe_canon(&t); /* constants below P: the vector bounds count on it */
    split52(out, t.v);
}

static int simd_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512ifma");
}

static void simd_init(void) {
    u64 p4[4] = {P[0], P[1], P[2], P[3]};
    split52(VP, p4);
    VPINV = PINV & M52;
    for (int i = 0; i < 12; i++) to_v(VRC_INITIAL[i], &RC_INITIAL[i]);
    for (int i = 0; i < 56; i++) to_v(VRC_INTERNAL[i], &RC_INTERNAL[i]);
    for (int i = 0; i < 12; i++) to_v(VRC_FINAL[i], &RC_FINAL[i]);
    to_v(VONE, &FE_ONE);
    to_v(VIV2, &IV_RATE2);
    split52(VK_OUT, FE_ONE.v); /* the integer 2^256 mod P */
    fe k = FE_ONE, k2;
    to_mont(&k2, &k); /* 2^512 mod P */
    for (int i = 0; i < 8; i++) fe_add(&k2, &k2, &k2);
    split52(VK_PLAIN, k2.v); /* 2^520 mod P */
    double pd = (double)P[3] * 0x1p192 + (double)P[2] * 0x1p128;
    VC_HI = 0x1p208 / pd;
    VC_LO = 0x1p156 / pd;
    simd_on = simd_supported() && !getenv("POSEIDON2_NO_SIMD");
}
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512ifma")
typedef __m512i V;
typedef struct { V l[5]; } vfe;

#define BC(c) _mm512_set1_epi64((long long)(c))

/* carries up: limbs below 2^52 except the top one; signed limbs allowed (value >= 0) */
static inline void vnorm(vfe *a) {
    const V m = BC(M52);
    for (int j = 0; j < 4; j++) {
        a->l[j + 1] = _mm512_add_epi64(a->l[j + 1], _mm512_srai_epi64(a->l[j], 52));
        a->l[j] = _mm512_and_si512(a->l[j], m);
    }
}

static inline void vadd(vfe *r, const vfe *a, const vfe *b) {
    for (int j = 0; j < 5; j++) r->l[j] = _mm512_add_epi64(a->l[j], b->l[j]);
}

static inline void vaddc(vfe *r, const u64 c[5]) {
    for (int j = 0; j < 5; j++) r->l[j] = _mm512_add_epi64(r->l[j], BC(c[j]));
}

/* v (limbs < 2^62, any carries pending) -> v - kP in [0, 2P), normalized. k is v/P from the
   top two limbs in double precision, less 2^-20, truncated: the estimate's error (< 2^-40)
   stays below that margin, so k <= v/P (never negative) and k > v/P - 2. */
static inline void vreduce(vfe *a) {
    __m512d hi = _mm512_cvtepi64_pd(a->l[4]), lo = _mm512_cvtepi64_pd(a->l[3]);
    __m512d q = _mm512_fmadd_pd(lo, _mm512_set1_pd(VC_LO),
                                _mm512_fmsub_pd(hi, _mm512_set1_pd(VC_HI),
                                                _mm512_set1_pd(0x1p-20)));
    V k = _mm512_cvttpd_epi64(q);
    for (int j = 0; j < 5; j++)
        a->l[j] = _mm512_sub_epi64(a->l[j], _mm512_mullo_epi64(k, BC(VP[j])));
    vnorm(a);
}

/* r = a * b / 2^260 mod P for NV vectors side by side (r may alias a or b). Inputs normalized
   with a * b < P * 2^260 (e.g. both < 9P); the result is < 2P, normalized if `norm`. Operand scanning:
   per limb of b, add a * b_i, then m * P with m making the low limb divisible by 2^52. */
static inline void vmul_(vfe *r, const vfe *a, const vfe *b, int norm) {
    const V z = _mm512_setzero_si512(), pinv = BC(VPINV);
    const V p0 = BC(VP[0]), p1 = BC(VP[1]), p2 = BC(VP[2]), p3 = BC(VP[3]), p4 = BC(VP[4]);
    V t[NV][6];
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < 6; j++) t[v][j] = z;
    for (int i = 0; i < 5; i++) {
        for (int v = 0; v < NV; v++) {
            const V bi = b[v].l[i];
            t[v][0] = _mm512_madd52lo_epu64(t[v][0], a[v].l[0], bi);
            t[v][1] = _mm512_madd52lo_epu64(t[v][1], a[v].l[1], bi);
            t[v][2] = _mm512_madd52lo_epu64(t[v][2], a[v].l[2], bi);
            t[v][3] = _mm512_madd52lo_epu64(t[v][3], a[v].l[3], bi);
            t[v][4] = _mm512_madd52lo_epu64(t[v][4], a[v].l[4], bi);
            t[v][1] = _mm512_madd52hi_epu64(t[v][1], a[v].l[0], bi);
            t[v][2] = _mm512_madd52hi_epu64(t[v][2], a[v].l[1], bi);
            t[v][3] = _mm512_madd52hi_epu64(t[v][3], a[v].l[2], bi);
            t[v][4] = _mm512_madd52hi_epu64(t[v][4], a[v].l[3], bi);
            t[v][5] = _mm512_madd52hi_epu64(z, a[v].l[4], bi);
        }
        for (int v = 0; v < NV; v++) {
            const V m = _mm512_madd52lo_epu64(z, t[v][0], pinv);
            t[v][0] = _mm512_madd52lo_epu64(t[v][0], m, p0);
            t[v][1] = _mm512_madd52lo_epu64(t[v][1], m, p1);
            t[v][2] = _mm512_madd52lo_epu64(t[v][2], m, p2);
            t[v][3] = _mm512_madd52lo_epu64(t[v][3], m, p3);
            t[v][4] = _mm512_madd52lo_epu64(t[v][4], m, p4);
            t[v][1] = _mm512_madd52hi_epu64(t[v][1], m, p0);
            t[v][2] = _mm512_madd52hi_epu64(t[v][2], m, p1);
            t[v][3] = _mm512_madd52hi_epu64(t[v][3], m, p2);
            t[v][4] = _mm512_madd52hi_epu64(t[v][4], m, p3);
            t[v][5] = _mm512_madd52hi_epu64(t[v][5], m, p4);
            /* the low limb is now a multiple of 2^52: carry it and shift down one limb */
            t[v][0] = _mm512_add_epi64(t[v][1], _mm512_srli_epi64(t[v][0], 52));
            t[v][1] = t[v][2];
            t[v][2] = t[v][3];
            t[v][3] = t[v][4];
            t[v][4] = t[v][5];
        }
    }
    for (int v = 0; v < NV; v++) {
        for (int j = 0; j < 5; j++) r[v].l[j] = t[v][j];
        if (norm) vnorm(&r[v]);
    }
}

static inline void vmul(vfe *r, const vfe *a, const vfe *b) { vmul_(r, a, b, 1); }

/* r = a^2 / 2^260 mod P (as vmul(r, a, a), same bounds) with 15 limb products, not 25: the
   cross products once, doubled, then the squares; then the 5 reduction steps (separated
   operand scanning) */
static inline void vsqr(vfe *r, const vfe *a) {
    const V z = _mm512_setzero_si512(), pinv = BC(VPINV);
    const V p[5] = {BC(VP[0]), BC(VP[1]), BC(VP[2]), BC(VP[3]), BC(VP[4])};
    V t[NV][10];
    for (int v = 0; v < NV; v++) {
        for (int j = 0; j < 10; j++) t[v][j] = z;
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                t[v][i + j] = _mm512_madd52lo_epu64(t[v][i + j], a[v].l[i], a[v].l[j]);
                t[v][i + j + 1] = _mm512_madd52hi_epu64(t[v][i + j + 1], a[v].l[i], a[v].l[j]);
            }
        for (int j = 1; j < 9; j++) t[v][j] = _mm512_add_epi64(t[v][j], t[v][j]);
        for (int i = 0; i < 5; i++) {
            t[v][2 * i] = _mm512_madd52lo_epu64(t[v][2 * i], a[v].l[i], a[v].l[i]);
            t[v][2 * i + 1] = _mm512_madd52hi_epu64(t[v][2 * i + 1], a[v].l[i], a[v].l[i]);
        }
    }
    for (int i = 0; i < 5; i++)
        for (int v = 0; v < NV; v++) {
            const V m = _mm512_madd52lo_epu64(z, t[v][i], pinv);
            for (int j = 0; j < 5; j++) {
                t[v][i + j] = _mm512_madd52lo_epu64(t[v][i + j], m, p[j]);
                t[v][i + j + 1] = _mm512_madd52hi_epu64(t[v][i + j + 1], m, p[j]);
            }
            t[v][i + 1] = _mm512_add_epi64(t[v][i + 1], _mm512_srli_epi64(t[v][i], 52));
        }
    for (int v = 0; v < NV; v++) {
        for (int j = 0; j < 5; j++) r[v].l[j] = t[v][5 + j];
        vnorm(&r[v]);
    }
}

/* x^5 of NV vectors; x normalized, < 9P; the result < 2P with its carries pending (limbs
   < 2^58): it only goes into additions, and they are normalized before the next product */
static inline void vsbox(vfe *x) {
    vfe x2[NV], x4[NV];
    vsqr(x2, x);
    vsqr(x4, x2);
    vmul_(x, x4, x, 0);
}

/* x, y, z: NV vectors each, any values with limbs < 2^62; results < 8P, limbs unnormalized */
static void vpermute(vfe *x, vfe *y, vfe *z) {
    vfe s;
    int v;
#define EACHV for (v = 0; v < NV; v++)
#define VLINEAR                                                  \
    EACHV {                                                      \
        vadd(&s, &x[v], &y[v]);                                  \
        vadd(&s, &s, &z[v]);                                     \
        vadd(&x[v], &x[v], &s);                                  \
        vadd(&y[v], &y[v], &s);                                  \
        vadd(&z[v], &z[v], &s);                                  \
    }
    EACHV { vreduce(&x[v]); vreduce(&y[v]); vreduce(&z[v]); } /* < 2P each */
    VLINEAR                                                     /* < 8P each */
    for (int r = 0; r < 8; r++) {
        const u64(*c)[5] = r < 4 ? &VRC_INITIAL[3 * r] : &VRC_FINAL[3 * (r - 4)];
        if (r == 4) {
            EACHV { vreduce(&y[v]); vreduce(&z[v]); }
            for (int j = 0; j < 56; j++) {
                EACHV { vaddc(&x[v], VRC_INTERNAL[j]); vnorm(&x[v]); } /* < 9P */
                vsbox(x);                                             /* < 2P */
                EACHV {
                    vadd(&s, &x[v], &y[v]);
                    vadd(&s, &s, &z[v]);  /* < 6P */
                    vadd(&x[v], &x[v], &s); /* < 8P */
                    vadd(&y[v], &y[v], &s);
                    vadd(&z[v], &z[v], &z[v]);
                    vadd(&z[v], &z[v], &s);
                    vreduce(&y[v]);
                    vreduce(&z[v]);
                }
            }
        }
        EACHV {
            vaddc(&x[v], c[0]); vnorm(&x[v]);
            vaddc(&y[v], c[1]); vnorm(&y[v]);
            vaddc(&z[v], c[2]); vnorm(&z[v]); /* < 9P */
        }
        vsbox(x);
        vsbox(y);
        vsbox(z);
        VLINEAR
    }
#undef VLINEAR
#undef EACHV
}

/* VL canonical scalar-Montgomery elements <-> NV vectors */
static void v_from_fe(vfe *out, const fe *in) {
    u64 l[5][VL] __attribute__((aligned(64)));
    for (int k = 0; k < VL; k++) {
        u64 s[5];
        to_v(s, &in[k]);
        for (int j = 0; j < 5; j++) l[j][k] = s[j];
    }
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < 5; j++) out[v].l[j] = _mm512_load_si512((const void *)&l[j][8 * v]);
}

static void v_to_fe(fe *out, vfe *in) {
    vfe b[NV];
    for (int v = 0; v < NV; v++) {
        vreduce(&in[v]); /* < 2P */
        for (int j = 0; j < 5; j++) b[v].l[j] = BC(VK_OUT[j]);
    }
    vmul(in, in, b); /* a 2^260 * 2^256 / 2^260 = a 2^256 (scalar Montgomery form), < 2P */
    u64 l[5][VL] __attribute__((aligned(64)));
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < 5; j++) _mm512_store_si512((void *)&l[j][8 * v], in[v].l[j]);
    for (int k = 0; k < VL; k++) {
        u64 s[5], w[4];
        for (int j = 0; j < 5; j++) s[j] = l[j][k];
        join52(w, s);
        reduce_once(&out[k], w[0], w[1], w[2], w[3]);
    }
}

/* 31-byte chunk i of each of VL cells of `len` bytes (10*-padded) added to acc, in R' form */
static void v_absorb_chunk(vfe *acc, const unsigned char *const *data, size_t len, size_t i) {
    u64 l[5][VL] __attribute__((aligned(64)));
    size_t off = 31 * i;
    for (int k = 0; k < VL; k++) {
        fe raw;
        if (off + 32 <= len) {
            memcpy(raw.v, data[k] + off, 32); /* little-endian limbs; the 32nd byte dropped */
            raw.v[3] &= 0x00ffffffffffffffULL;
        } else if (off + 31 <= len) {
            fe_from_bytes_raw(&raw, data[k] + off, 31);
        } else {
            unsigned char last[31];
            size_t rem = len - off;
            memset(last, 0, sizeof last);
            if (rem) memcpy(last, data[k] + off, rem);
            last[rem] = 1;
            fe_from_bytes_raw(&raw, last, 31);
        }
        u64 s[5];
        split52(s, raw.v); /* the plain value, < 2^248 */
        for (int j = 0; j < 5; j++) l[j][k] = s[j];
    }
    vfe a[NV], b[NV];
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < 5; j++) {
            a[v].l[j] = _mm512_load_si512((const void *)&l[j][8 * v]);
            b[v].l[j] = BC(VK_PLAIN[j]);
        }
    vmul(a, a, b); /* e * 2^520 / 2^260 = e * 2^260, < 2P */
    for (int v = 0; v < NV; v++) vadd(&acc[v], &acc[v], &a[v]);
}

/* hash_bytes_fe of VL cells of equal length in lockstep */
static void hash_cells_v(fe *out, const unsigned char *const *data, size_t len) {
    vfe x[NV], y[NV], z[NV];
    size_t n = len / 31 + 1, i;
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < 5; j++) {
            x[v].l[j] = _mm512_setzero_si512();
            y[v].l[j] = _mm512_setzero_si512();
            z[v].l[j] = BC(VIV2[j]);
        }
    for (i = 0; i + 1 < n; i += 2) {
        v_absorb_chunk(x, data, len, i);
        v_absorb_chunk(y, data, len, i + 1);
        vpermute(x, y, z);
    }
    if (i < n) {
        v_absorb_chunk(x, data, len, i);
        for (int v = 0; v < NV; v++) vaddc(&y[v], VONE);
    } else {
        for (int v = 0; v < NV; v++) vaddc(&x[v], VONE);
    }
    vpermute(x, y, z);
    v_to_fe(out, x);
}

/* VL permutations of scalar states (test entry point for the vector path) */
static void permute_v(fe *x, fe *y, fe *z) {
    vfe vx[NV], vy[NV], vz[NV];
    v_from_fe(vx, x);
    v_from_fe(vy, y);
    v_from_fe(vz, z);
    vpermute(vx, vy, vz);
    v_to_fe(x, vx);
    v_to_fe(y, vy);
    v_to_fe(z, vz);
}

#pragma GCC pop_options
#endif /* P2_SIMD */

/* one Merkle layer with Codex's keyed/odd conventions, LANES compressions at a time; returns
   the new count. In-place safe (out may alias in). */
static size_t layer4(fe *out, const fe *in, size_t n, int bottom) {
    size_t pairs = n / 2, m = 0, p = 0;
    u64 flag = bottom ? 1 : 0;
#if defined(P2_SIMD)
    for (; simd_on && p + VL <= pairs; p += VL) {
        fe x[VL], y[VL], z[VL];
        for (int k = 0; k < VL; k++) {
            x[k] = in[2 * (p + k)];
            y[k] = in[2 * (p + k) + 1];
            z[k] = KEYS[flag];
        }
        permute_v(x, y, z);
        for (int k = 0; k < VL; k++) out[m++] = x[k];
    }
#endif
    for (; p + LANES <= pairs; p += LANES) {
        fe x[LANES], y[LANES], z[LANES];
        for (int k = 0; k < LANES; k++) {
            x[k] = in[2 * (p + k)];
            y[k] = in[2 * (p + k) + 1];
            z[k] = KEYS[flag];
        }
        permute4(x, y, z);
        for (int k = 0; k < LANES; k++) out[m++] = x[k];
    }
    for (; p < pairs; p++) {
        fe x = in[2 * p], y = in[2 * p + 1], z = KEYS[flag];
        permute(&x, &y, &z);
        out[m++] = x;
    }
    if (n % 2) {
        fe x = in[n - 1], y = FE_ZERO, z = KEYS[flag | 2];
        permute(&x, &y, &z);
        out[m++] = x;
    }
    return m;
}

static void root4(fe *out, fe *nodes, size_t n) {
    if (n == 1) {
        fe x = nodes[0], y = FE_ZERO, z = KEYS[3];
        permute(&x, &y, &z);
        *out = x;
        return;
    }
    int bottom = 1;
    while (n > 1) {
        n = layer4(nodes, nodes, n, bottom);
        bottom = 0;
    }
    *out = nodes[0];
}

/* hash n cells of `cell` bytes each, LANES at a time */
static void hash_cells_fe(fe *out, const unsigned char *d, size_t n, size_t cell) {
    size_t i = 0;
#if defined(P2_SIMD)
    for (; simd_on && i + VL <= n; i += VL) {
        const unsigned char *ptrs[VL];
        for (int k = 0; k < VL; k++) ptrs[k] = d + (i + k) * cell;
        hash_cells_v(&out[i], ptrs, cell);
    }
#endif
    for (; i + LANES <= n; i += LANES) {
        const unsigned char *ptrs[LANES];
        for (int k = 0; k < LANES; k++) ptrs[k] = d + (i + k) * cell;
        hash_cells4(&out[i], ptrs, cell);
    }
    for (; i < n; i++) hash_bytes_fe(&out[i], d + i * cell, cell);
}

/* ------------------------------------------------------------------------------------------ */
/* Python glue */

static int read_elems(Py_buffer *buf, fe **out, size_t *n) {
    if (buf->len % 32) {
        PyErr_SetString(PyExc_ValueError, "field elements must be 32 bytes each");
        return 0;
    }
    *n = (size_t)buf->len / 32;
    *out = PyMem_Malloc((*n ? *n : 1) * sizeof(fe));
    if (!*out) {
        PyErr_NoMemory();
        return 0;
    }
    const unsigned char *b = buf->buf;
    for (size_t i = 0; i < *n; i++) {
        if (!fe_from_bytes(&(*out)[i], b + 32 * i)) {
            PyMem_Free(*out);
            PyErr_SetString(PyExc_ValueError, "not a BN254 scalar field element");
            return 0;
        }
    }
    return 1;
}

static PyObject *elems_to_bytes(const fe *e, size_t n) {
    PyObject *res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * n));
    if (!res) return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(res);
    for (size_t i = 0; i < n; i++) fe_to_bytes(o + 32 * i, &e[i]);
    return res;
}

static PyObject *py_permute(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    fe *e;
    size_t n;
    if (!read_elems(&buf, &e, &n)) { PyBuffer_Release(&buf); return NULL; }
    PyBuffer_Release(&buf);
    if (n != 3) {
        PyMem_Free(e);
        PyErr_SetString(PyExc_ValueError, "the state is 3 field elements");
        return NULL;
    }
    permute(&e[0], &e[1], &e[2]);
    PyObject *res = elems_to_bytes(e, 3);
    PyMem_Free(e);
    return res;
}

static PyObject *py_permute_many(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    fe *e;
    size_t n;
    if (!read_elems(&buf, &e, &n)) { PyBuffer_Release(&buf); return NULL; }
    PyBuffer_Release(&buf);
    if (n % 3) {
        PyMem_Free(e);
        PyErr_SetString(PyExc_ValueError, "states are 3 field elements each");
        return NULL;
    }
    size_t states = n / 3, i = 0;
    Py_BEGIN_ALLOW_THREADS
#if defined(P2_SIMD)
    for (; simd_on && i + VL <= states; i += VL) {
        fe x[VL], y[VL], z[VL];
        for (int k = 0; k < VL; k++) {
            x[k] = e[3 * (i + k)]; y[k] = e[3 * (i + k) + 1]; z[k] = e[3 * (i + k) + 2];
        }
        permute_v(x, y, z);
        for (int k = 0; k < VL; k++) {
            e[3 * (i + k)] = x[k]; e[3 * (i + k) + 1] = y[k]; e[3 * (i + k) + 2] = z[k];
        }
    }
#endif
    for (; i < states; i++) permute(&e[3 * i], &e[3 * i + 1], &e[3 * i + 2]);
    Py_END_ALLOW_THREADS
    PyObject *res = elems_to_bytes(e, n);
    PyMem_Free(e);
    return res;
}

/* simd(flag=-1): whether the AVX-512 IFMA path is used; 0/1 turns it off/on (on only where
   the CPU has it). For tests and measurements: both paths give the same bits. */
static PyObject *py_simd(PyObject *self, PyObject *args) {
    int flag = -1;
    if (!PyArg_ParseTuple(args, "|i", &flag)) return NULL;
#if defined(P2_SIMD)
    if (flag == 0) simd_on = 0;
    if (flag == 1) simd_on = simd_supported();
    return PyBool_FromLong(simd_on);
#else
    (void)flag;
    Py_RETURN_FALSE;
#endif
}

static PyObject *py_compress(PyObject *self, PyObject *args) {
    Py_buffer bx, by;
    unsigned long long key;
    if (!PyArg_ParseTuple(args, "y*y*K", &bx, &by, &key)) return NULL;
    fe x, y, out;
    int ok = bx.len == 32 && by.len == 32 && fe_from_bytes(&x, bx.buf) && fe_from_bytes(&y, by.buf);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "compress takes two 32-byte field elements");
        return NULL;
    }
    compress_fe(&out, &x, &y, key);
    return elems_to_bytes(&out, 1);
}

static PyObject *py_sponge(PyObject *self, PyObject *args) {
    Py_buffer buf;
    int rate;
    if (!PyArg_ParseTuple(args, "y*i", &buf, &rate)) return NULL;
    if (rate != 1 && rate != 2) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "rate must be 1 or 2");
        return NULL;
    }
    fe *e;
    size_t n;
    if (!read_elems(&buf, &e, &n)) { PyBuffer_Release(&buf); return NULL; }
    PyBuffer_Release(&buf);
    fe x = FE_ZERO, y = FE_ZERO, z = rate == 1 ? IV_RATE1 : IV_RATE2;
    size_t i = 0;
    if (rate == 1) {
        for (; i < n; i++) { fe_add(&x, &x, &e[i]); permute(&x, &y, &z); }
        fe_add(&x, &x, &FE_ONE);
    } else {
        for (; i + 1 < n; i += 2) {
            fe_add(&x, &x, &e[i]);
            fe_add(&y, &y, &e[i + 1]);
            permute(&x, &y, &z);
        }
        if (i < n) { fe_add(&x, &x, &e[i]); fe_add(&y, &y, &FE_ONE); }
        else fe_add(&x, &x, &FE_ONE);
    }
    permute(&x, &y, &z);
    PyMem_Free(e);
    return elems_to_bytes(&x, 1);
}

static PyObject *py_hash_bytes(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    fe out;
    Py_BEGIN_ALLOW_THREADS
    hash_bytes_fe(&out, buf.buf, (size_t)buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return elems_to_bytes(&out, 1);
}

static PyObject *py_hash_cells(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t cell;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &cell)) return NULL;
    if (cell <= 0 || buf.len % cell) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "data must be a whole number of cells");
        return NULL;
    }
    size_t n = (size_t)(buf.len / cell);
    fe *out = PyMem_Malloc((n ? n : 1) * sizeof(fe));
    if (!out) { PyBuffer_Release(&buf); return PyErr_NoMemory(); }
    const unsigned char *d = buf.buf;
    Py_BEGIN_ALLOW_THREADS
    hash_cells_fe(out, d, n, (size_t)cell);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyObject *res = elems_to_bytes(out, n);
    PyMem_Free(out);
    return res;
}

static PyObject *py_merkle_layer(PyObject *self, PyObject *args) {
    Py_buffer buf;
    int bottom;
    if (!PyArg_ParseTuple(args, "y*p", &buf, &bottom)) return NULL;
    fe *e;
    size_t n;
    if (!read_elems(&buf, &e, &n)) { PyBuffer_Release(&buf); return NULL; }
    PyBuffer_Release(&buf);
    size_t m;
    Py_BEGIN_ALLOW_THREADS
    m = layer4(e, e, n, bottom);
    Py_END_ALLOW_THREADS
    PyObject *res = elems_to_bytes(e, m);
    PyMem_Free(e);
    return res;
}

static PyObject *py_merkle_root(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    fe *e;
    size_t n;
    if (!read_elems(&buf, &e, &n)) { PyBuffer_Release(&buf); return NULL; }
    PyBuffer_Release(&buf);
    if (n == 0) {
        PyMem_Free(e);
        PyErr_SetString(PyExc_ValueError, "the Merkle root of no leaves is not defined");
        return NULL;
    }
    fe out;
    Py_BEGIN_ALLOW_THREADS
    root4(&out, e, n);
    Py_END_ALLOW_THREADS
    PyMem_Free(e);
    return elems_to_bytes(&out, 1);
}

static PyObject *py_block_hashes(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t block, cell;
    if (!PyArg_ParseTuple(args, "y*nn", &buf, &block, &cell)) return NULL;
    if (cell <= 0 || block <= 0 || block % cell || buf.len % block) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "data must be whole blocks of whole cells");
        return NULL;
    }
    size_t nb = (size_t)(buf.len / block), per = (size_t)(block / cell);
    /* with a power-of-two number of cells per block, BATCH blocks' trees are built together:
       every layer of every block has an even count, so one layer over the batch pairs only
       siblings, and wide layers take the lockstep path */
    size_t batch = per > 1 && !(per & (per - 1)) ? 64 : 1;
    fe *out = PyMem_Malloc((nb ? nb : 1) * sizeof(fe));
    fe *cells = PyMem_Malloc(batch * per * sizeof(fe));
    if (!out || !cells) {
        PyMem_Free(out);
        PyMem_Free(cells);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    const unsigned char *d = buf.buf;
    Py_BEGIN_ALLOW_THREADS
    for (size_t b = 0; b < nb; b += batch) {
        size_t k = nb - b < batch ? nb - b : batch;
        hash_cells_fe(cells, d + b * (size_t)block, k * per, (size_t)cell);
        if (batch == 1) {
            root4(&out[b], cells, per);
            continue;
        }
        size_t n = k * per;
        for (size_t w = per, bottom = 1; w > 1; w /= 2, bottom = 0) n = layer4(cells, cells, n, (int)bottom);
        memcpy(&out[b], cells, k * sizeof(fe));
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyObject *res = elems_to_bytes(out, nb);
    PyMem_Free(out);
    PyMem_Free(cells);
    return res;
}

static PyMethodDef methods[] = {
    {"permute", py_permute, METH_VARARGS, "Poseidon2 permutation of a 96-byte state."},
    {"permute_many", py_permute_many, METH_VARARGS, "Poseidon2 permutation of each 96-byte state."},
    {"simd", py_simd, METH_VARARGS, "Query or set (0/1) the AVX-512 IFMA path."},
    {"compress", py_compress, METH_VARARGS, "Keyed compression of two elements."},
    {"sponge", py_sponge, METH_VARARGS, "Sponge hash (rate 1 or 2) of 32-byte elements."},
    {"hash_bytes", py_hash_bytes, METH_VARARGS, "Rate-2 sponge of 10*-padded 31-byte chunks."},
    {"hash_cells", py_hash_cells, METH_VARARGS, "hash_bytes of each cell of the data."},
    {"merkle_layer", py_merkle_layer, METH_VARARGS, "One Merkle layer up (Codex conventions)."},
    {"merkle_root", py_merkle_root, METH_VARARGS, "Merkle root (Codex conventions)."},
    {"block_hashes", py_block_hashes, METH_VARARGS, "Merkle root of each block's cell hashes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) {
    /* round constants come from proofs.poseidon2.constants, the one place they are kept */
    PyObject *consts = PyImport_ImportModule("proofs.poseidon2.constants");
    if (!consts) return NULL;
    const char *names[3] = {"INITIAL", "INTERNAL", "FINAL"};
    fe *dst[3] = {RC_INITIAL, RC_INTERNAL, RC_FINAL};
    Py_ssize_t sizes[3] = {12, 56, 12};
    for (int k = 0; k < 3; k++) {
        PyObject *seq = PyObject_GetAttrString(consts, names[k]);
        if (!seq) { Py_DECREF(consts); return NULL; }
        if (!PyTuple_Check(seq) || PyTuple_GET_SIZE(seq) != sizes[k]) {
            Py_DECREF(seq); Py_DECREF(consts);
            PyErr_SetString(PyExc_ValueError, "unexpected round constant table");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < sizes[k]; i++) {
            PyObject *raw = PyObject_CallMethod(PyTuple_GET_ITEM(seq, i), "to_bytes", "is", 32,
                                                "little");
            if (!raw) { Py_DECREF(seq); Py_DECREF(consts); return NULL; }
            int ok = PyBytes_Check(raw) && PyBytes_GET_SIZE(raw) == 32 &&
                     fe_from_bytes(&dst[k][i], (const unsigned char *)PyBytes_AS_STRING(raw));
            Py_DECREF(raw);
            if (!ok) {
                Py_DECREF(seq); Py_DECREF(consts);
                PyErr_SetString(PyExc_ValueError, "round constant is not a field element");
                return NULL;
            }
        }
        Py_DECREF(seq);
    }
    Py_DECREF(consts);
    fe raw = {{1, 0, 0, 0}};
    to_mont(&FE_ONE, &raw);
    memset(&FE_ZERO, 0, sizeof FE_ZERO);
    for (u64 k = 0; k < 4; k++) {
        fe kr = {{k, 0, 0, 0}};
        to_mont(&KEYS[k], &kr);
    }
    fe iv1 = {{0x301, 1, 0, 0}}, iv2 = {{0x302, 1, 0, 0}};
    to_mont(&IV_RATE1, &iv1);
    to_mont(&IV_RATE2, &iv2);
#if defined(P2_SIMD)
    simd_init();
#endif
    return PyModule_Create(&module);
}
