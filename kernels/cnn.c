/*
 * The package's CNNs (src/architecture.ts) as one WebAssembly module: the
 * whole training step (forward with batch statistics, backward, Adam) and the
 * evaluation-mode forward, with 128-bit SIMD and relaxed fused multiply-add.
 *
 *   [28×28×1] conv 3×3 'same' C1 → batch norm → ReLU → max pool 2
 *             conv 3×3 'same' C2 → batch norm → ReLU → max pool 2 → flatten 49·C2
 *             [→ dense U → ReLU → dropout] → dense K
 *
 * The shapes are read when the module is instantiated (cnn_configure, from the
 * network description): C1 and C2 multiples of 8 up to 64, U a multiple of 8
 * up to 512 or none, K from 2 to 10. One .wasm serves every shape; the SPEC
 * network's shape (16, 32) and the wide one's (32, 64) get their own copies of
 * the convolution code with the channel counts as constants.
 *
 * The second convolution, forward, input gradient and filter gradient, runs
 * by Winograd's F(2×2, 3×3) (winograd14): 2.25 times fewer multiplies than the
 * direct sum, with float rounding a few ulps from it.
 *
 * NHWC activations, tfjs parameter layouts (HWIO filters, [in, out] dense).
 * The host (src/engine/cnn-kernel.ts) checks the layout below against the
 * network description, writes parameters, images, labels and the dropout mask
 * into this module's memory and computes the loss from the logits (it has exp
 * and log).
 *
 * Determinism: every reduction runs in a fixed order. Batch statistics are
 * summed per image, then over images in order (in double); weight gradients
 * are summed over the first and the second half of the batch separately and
 * then added, so two workers that each take one half give the same bits.
 *
 * Rebuild with `npm run build:kernels` (Debian clang-19 + wasm-ld-19).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define H1 28           /* input and first convolution */
#define H2 14           /* after the first pool: the second convolution */
#define H3 7            /* after the second pool */
#define XP (H1 + 2)     /* zero-padded input width */
#define PP (H2 + 2)     /* zero-padded width of the 14×14 grids */
#define MAX_C 64        /* most filters a block may have */
#define MAX_HIDDEN 512
#define MAX_CLASSES 10

/* Exported to the host; everything else stays internal. */
#define EXPORT __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

typedef v128_t f4;
#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define SPLAT(x) wasm_f32x4_splat(x)
#define BCAST(p) ((f4)wasm_v128_load32_splat(p))
#define MADD(a, b, c) wasm_f32x4_relaxed_madd(a, b, c) /* a·b + c, fused where the CPU has FMA */
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul
#define ZERO wasm_f32x4_const_splat(0)

/* ---- shape and parameter layout (cnn_configure) ------------------------------------------------ */

static int C1, C2, HID, K, FEAT, DIN, LS;

/* Parameters, in the network's order (the hidden layer's two only when there is one). */
enum { CONV1_K, CONV1_B, BN1_G, BN1_B, CONV2_K, CONV2_B, BN2_G, BN2_B, HID_K, HID_B, DENSE_K, DENSE_B, PARAMETER_SLOTS };
static int SIZES[PARAMETER_SLOTS], OFFSETS[PARAMETER_SLOTS];
static int O_C1K, O_C1B, O_G1, O_B1, O_C2K, O_C2B, O_G2, O_B2, O_HK, O_HB, O_DK, O_DB, N_PARAMS, N_PADDED;

/* ---- state ---------------------------------------------------------------------------------- */

/* Parameter-sized arrays, laid out by cnn_configure at the start of the heap. */
static float *params, *grads, *half_grads[2], *adam_m, *adam_v;
/* Second convolution's filter, flipped and transposed for its input gradient: [a][b][o][c]. */
static float *w2t;
/* The second convolution's filter and w2t, Winograd-transformed (winograd_filter): [16][c1][c2] and [16][c2][c1]. */
static float *u2, *u2t;
/* dL/dU of the second convolution, per half of the batch: [2][16][c1][c2]. */
static float *du2;
/* Output layer's kernel transposed, [class][input], and its gradient per half. */
static float *wdt, *dwdt[2];
/* Where the batch buffers start (after the parameter arrays). */
static unsigned long arena;

/* Running statistics: mean1, var1, mean2, var2 (evaluation mode). */
static float running[4 * MAX_C] __attribute__((aligned(16)));
/* Batch statistics of the last training forward: mean1, var1 (biased), mean2, var2, as float. */
static float batch_stats[4 * MAX_C] __attribute__((aligned(16)));
/* One row of the first block's dz, for its filter gradient. */
static float dz1_row[H1 * MAX_C] __attribute__((aligned(16)));

/* Per-layer batch-norm coefficients of the current step. */
static float mean1[MAX_C], inv1[MAX_C], mean2[MAX_C], inv2[MAX_C];
static float bn_a1[MAX_C], bn_k1[MAX_C], bn_off1[MAX_C], bn_a2[MAX_C], bn_k2[MAX_C], bn_off2[MAX_C];

/* Batch buffers, laid out by cnn_reserve. */
static int capacity = 0;
static float *input, *xpad, *z1, *sum1, *sq1, *p1pad, *z2, *sum2, *sq2, *flat, *hact, *hout, *hmask, *dhid, *logits, *dlogits, *dflat, *dz2pad, *dp1;
static float *gsum1, *gcsum1, *gsum2, *gcsum2;
static int32_t *route1, *route2;

extern unsigned char __heap_base;

void *memset(void *dst, int value, unsigned long n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)value;
  return dst;
}

void *memcpy(void *dst, const void *src, unsigned long n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

static void zero(float *p, int n) {
  for (int i = 0; i < n; i++) p[i] = 0;
}

/* Memory up to `end` (bytes), growing it if needed; 0 when it cannot grow. */
static int ensure_memory(unsigned long end) {
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  return end <= have || __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) != (unsigned long)-1;
}

static int valid_filters(int c) { return c >= 8 && c <= MAX_C && c % 8 == 0; }

/*
 * Read the network's shape: filters of the two blocks, hidden units (0: no
 * hidden layer) and classes. Once per instance, before anything else; 0 when
 * the shape is not one this module computes or memory cannot grow.
 */
EXPORT int cnn_configure(int c1, int c2, int hidden, int classes) {
  if (params || !valid_filters(c1) || !valid_filters(c2) || hidden < 0 || hidden > MAX_HIDDEN || hidden % 8 || classes < 2 || classes > MAX_CLASSES) return 0;
  C1 = c1, C2 = c2, HID = hidden, K = classes;
  FEAT = H3 * H3 * C2;
  DIN = HID ? HID : FEAT;
  LS = (K + 3) & ~3;
  const int sizes[PARAMETER_SLOTS] = {9 * C1, C1, C1, C1, 9 * C1 * C2, C2, C2, C2, HID ? FEAT * HID : 0, HID, DIN * K, K};
  int at = 0;
  for (int i = 0; i < PARAMETER_SLOTS; i++) SIZES[i] = sizes[i], OFFSETS[i] = at, at += sizes[i];
  O_C1K = OFFSETS[CONV1_K], O_C1B = OFFSETS[CONV1_B], O_G1 = OFFSETS[BN1_G], O_B1 = OFFSETS[BN1_B];
  O_C2K = OFFSETS[CONV2_K], O_C2B = OFFSETS[CONV2_B], O_G2 = OFFSETS[BN2_G], O_B2 = OFFSETS[BN2_B];
  O_HK = OFFSETS[HID_K], O_HB = OFFSETS[HID_B], O_DK = OFFSETS[DENSE_K], O_DB = OFFSETS[DENSE_B];
  N_PARAMS = at;
  N_PADDED = (N_PARAMS + 3) & ~3;

  const unsigned long counts[] = {N_PADDED, N_PADDED, N_PADDED, N_PADDED, N_PADDED, N_PADDED, 9 * C1 * C2, 16 * C1 * C2, 16 * C1 * C2, 32 * C1 * C2, K * DIN, K * DIN, K * DIN};
  unsigned long floats = 0;
  for (unsigned i = 0; i < sizeof counts / sizeof counts[0]; i++) floats += (counts[i] + 3) & ~3ul;
  const unsigned long base = ((unsigned long)&__heap_base + 15) & ~15ul;
  if (!ensure_memory(base + 4 * floats)) return 0;
  float *p = (float *)base;
  float **slots[] = {&params, &grads, &half_grads[0], &half_grads[1], &adam_m, &adam_v, &w2t, &u2, &u2t, &du2, &wdt, &dwdt[0], &dwdt[1]};
  for (unsigned i = 0; i < sizeof slots / sizeof slots[0]; i++) {
    *slots[i] = p;
    zero(p, (int)((counts[i] + 3) & ~3ul));
    p += (counts[i] + 3) & ~3ul;
  }
  arena = (unsigned long)p;
  return 1;
}

/* ---- layout and memory ------------------------------------------------------------------------ */

/* Parameters of this shape, in the network's order (slots of size 0 skipped). */
static int slot_of(int i) {
  for (int s = 0; s < PARAMETER_SLOTS; s++)
    if (SIZES[s] && i-- == 0) return s;
  return -1;
}
EXPORT int cnn_parameter_count(void) { return HID ? PARAMETER_SLOTS : PARAMETER_SLOTS - 2; }
EXPORT int cnn_parameter_size(int i) { return SIZES[slot_of(i)]; }
EXPORT int cnn_parameter_offset(int i) { return OFFSETS[slot_of(i)]; }
EXPORT int cnn_image_size(void) { return H1; }
EXPORT int cnn_classes(void) { return K; }
EXPORT int cnn_logit_stride(void) { return LS; }
EXPORT int cnn_hidden_units(void) { return HID; }
EXPORT float *cnn_params(void) { return params; }
EXPORT float *cnn_grads(void) { return grads; }
EXPORT float *cnn_adam_m(void) { return adam_m; }
EXPORT float *cnn_adam_v(void) { return adam_v; }
EXPORT float *cnn_running(void) { return running; }
EXPORT float *cnn_batch_stats(void) { return batch_stats; }
EXPORT float *cnn_input(void) { return input; }
EXPORT float *cnn_logits(void) { return logits; }
EXPORT float *cnn_dlogits(void) { return dlogits; }
/* Dropout multipliers [batch][U] of the next training forward (0 or 1/(1 − rate)), written by the host. */
EXPORT float *cnn_dropout_mask(void) { return hmask; }

/* Lay out buffers for batches of up to `batch` images; 0 when memory cannot grow. */
EXPORT int cnn_reserve(int batch) {
  if (!params) return 0;
  if (batch <= capacity) return 1;
  const unsigned long per_image[] = {
      H1 * H1, XP * XP, H1 * H1 * C1, C1, C1, PP * PP * C1, H2 * H2 * C2, C2, C2, FEAT, HID, HID, HID, HID, LS, LS, FEAT, PP * PP * C2,
      H2 * H2 * C1, C1, C1, C2, C2, H2 * H2 * C1, FEAT,
  };
  unsigned long floats = 0;
  for (unsigned i = 0; i < sizeof per_image / sizeof per_image[0]; i++) floats += ((per_image[i] * (unsigned long)batch + 3) & ~3ul);
  if (!ensure_memory(arena + 4 * floats + 16 * 32)) return 0;
  float *at = (float *)arena;
#define TAKE(name, count)                                        \
  name = (void *)at;                                             \
  at += (((unsigned long)(count) * (unsigned long)batch + 3) & ~3ul);
  TAKE(input, H1 * H1)
  TAKE(xpad, XP * XP)
  TAKE(z1, H1 * H1 * C1)
  TAKE(sum1, C1)
  TAKE(sq1, C1)
  TAKE(p1pad, PP * PP * C1)
  TAKE(z2, H2 * H2 * C2)
  TAKE(sum2, C2)
  TAKE(sq2, C2)
  TAKE(flat, FEAT)
  TAKE(hact, HID)
  TAKE(hout, HID)
  TAKE(hmask, HID)
  TAKE(dhid, HID)
  TAKE(logits, LS)
  TAKE(dlogits, LS)
  TAKE(dflat, FEAT)
  TAKE(dz2pad, PP * PP * C2)
  TAKE(dp1, H2 * H2 * C1)
  TAKE(gsum1, C1)
  TAKE(gcsum1, C1)
  TAKE(gsum2, C2)
  TAKE(gcsum2, C2)
  TAKE(route1, H2 * H2 * C1)
  TAKE(route2, FEAT)
#undef TAKE
  /* The padded grids' borders stay zero: only their interiors are ever written. */
  zero(xpad, XP * XP * batch);
  zero(p1pad, PP * PP * C1 * batch);
  zero(dz2pad, PP * PP * C2 * batch);
  capacity = batch;
  return 1;
}

/* ---- forward ---------------------------------------------------------------------------------- */

static void pad_input(int b) {
  const float *src = input + b * H1 * H1;
  float *dst = xpad + b * XP * XP;
  for (int i = 0; i < H1; i++)
    for (int j = 0; j < H1; j++) dst[(i + 1) * XP + j + 1] = src[i * H1 + j];
}

/* Channels [g, g + 4·nv) of the first convolution of image b into z1 (bias included), and their per-channel sums. */
INLINE void conv1_group(int c1, int b, int g, int nv) {
  const float *x = xpad + b * XP * XP;
  float *z = z1 + b * H1 * H1 * c1;
  const float *w = params + O_C1K + g;
  f4 bias[4], s[4];
  for (int v = 0; v < nv; v++) bias[v] = LD(params + O_C1B + g + 4 * v), s[v] = ZERO;
  for (int i = 0; i < H1; i++) {
    for (int j = 0; j < H1; j += 2) {
      f4 a[4], c[4];
      for (int v = 0; v < nv; v++) a[v] = bias[v], c[v] = bias[v];
      for (int t = 0; t < 9; t++) {
        const float *px = x + (i + t / 3) * XP + j + t % 3;
        const f4 u = BCAST(px), uu = BCAST(px + 1);
        for (int v = 0; v < nv; v++) {
          const f4 wv = LD(w + t * c1 + 4 * v);
          a[v] = MADD(u, wv, a[v]), c[v] = MADD(uu, wv, c[v]);
        }
      }
      float *out = z + (i * H1 + j) * c1 + g;
      for (int v = 0; v < nv; v++) ST(out + 4 * v, a[v]), ST(out + c1 + 4 * v, c[v]), s[v] = ADD(s[v], ADD(a[v], c[v]));
    }
  }
  float *sum = sum1 + b * c1 + g;
  for (int v = 0; v < nv; v++) ST(sum + 4 * v, s[v]);
}

INLINE void conv1_forward(int c1, int b) {
  int g = 0;
  for (; g + 16 <= c1; g += 16) conv1_group(c1, b, g, 4);
  if (g < c1) conv1_group(c1, b, g, 2);
}

/*
 * The same convolution by Winograd's F(2×2, 3×3): each 2×2 block of outputs
 * from a 4×4 block of inputs, transformed (V = Bᵀ·d·B), multiplied per
 * position with the transformed filter (U = G·g·Gᵀ, [16][cin][cout]) and
 * summed over the input channels, then transformed back (Y = Aᵀ·M·A): 16
 * multiplies per output pair of channels and block instead of 36, at the cost
 * of float rounding that differs from the direct sum's (a few ulps).
 */
#define TILES (H3 * H3) /* 2×2 output blocks of a 14×14 grid */
static float wino_v[16 * TILES * MAX_C] __attribute__((aligned(16)));
static float wino_m[16 * TILES * MAX_C] __attribute__((aligned(16)));

/* U[16][cin][cout] of an HWIO filter [3][3][cin][cout]. */
INLINE void winograd_filter(const float *w, float *u, int cin, int cout) {
  const f4 half = SPLAT(0.5f);
  for (int c = 0; c < cin; c++) {
    for (int o = 0; o < cout; o += 4) {
      f4 g[3][3], t[4][3];
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) g[a][b] = LD(w + ((a * 3 + b) * cin + c) * cout + o);
      for (int b = 0; b < 3; b++) {
        t[0][b] = g[0][b];
        t[1][b] = MUL(ADD(ADD(g[0][b], g[1][b]), g[2][b]), half);
        t[2][b] = MUL(ADD(SUB(g[0][b], g[1][b]), g[2][b]), half);
        t[3][b] = g[2][b];
      }
      for (int r = 0; r < 4; r++) {
        const f4 row[4] = {t[r][0], MUL(ADD(ADD(t[r][0], t[r][1]), t[r][2]), half), MUL(ADD(SUB(t[r][0], t[r][1]), t[r][2]), half), t[r][2]};
        for (int q = 0; q < 4; q++) ST(u + ((r * 4 + q) * cin + c) * cout + o, row[q]);
      }
    }
  }
}

/* V[16][TILES][cin] = Bᵀ·d·B of each 4×4 block d of a padded [PP][PP][cin] grid. */
INLINE void winograd_input(const float *in, int cin, float *v) {
  for (int ti = 0; ti < H3; ti++) {
    for (int tj = 0; tj < H3; tj++) {
      const int t = ti * H3 + tj;
      const float *base = in + (2 * ti * PP + 2 * tj) * cin;
      for (int c = 0; c < cin; c += 4) {
        f4 d[4][4], r[4][4];
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++) d[i][j] = LD(base + (i * PP + j) * cin + c);
        for (int i = 0; i < 4; i++) {
          r[i][0] = SUB(d[i][0], d[i][2]);
          r[i][1] = ADD(d[i][1], d[i][2]);
          r[i][2] = SUB(d[i][2], d[i][1]);
          r[i][3] = SUB(d[i][1], d[i][3]);
        }
        for (int j = 0; j < 4; j++) {
          ST(v + ((0 * 4 + j) * TILES + t) * cin + c, SUB(r[0][j], r[2][j]));
          ST(v + ((1 * 4 + j) * TILES + t) * cin + c, ADD(r[1][j], r[2][j]));
          ST(v + ((2 * 4 + j) * TILES + t) * cin + c, SUB(r[2][j], r[1][j]));
          ST(v + ((3 * 4 + j) * TILES + t) * cin + c, SUB(r[1][j], r[3][j]));
        }
      }
    }
  }
}

/* M[ξ][t][o] = Σ_c V[ξ][t][c]·U[ξ][c][o] for tiles t, t + 1 (np of them) and output channels [g, g + 4·nv). */
INLINE void winograd_products(const float *v, const float *u, float *m, int cin, int cout, int t, int np, int g, int nv) {
  f4 acc[2][4];
  for (int p = 0; p < np; p++)
    for (int q = 0; q < nv; q++) acc[p][q] = ZERO;
  for (int c = 0; c < cin; c++) {
    f4 wv[4];
    for (int q = 0; q < nv; q++) wv[q] = LD(u + c * cout + g + 4 * q);
    for (int p = 0; p < np; p++) {
      const f4 x = BCAST(v + (t + p) * cin + c);
      for (int q = 0; q < nv; q++) acc[p][q] = MADD(x, wv[q], acc[p][q]);
    }
  }
  for (int p = 0; p < np; p++)
    for (int q = 0; q < nv; q++) ST(m + (t + p) * cout + g + 4 * q, acc[p][q]);
}

/* winograd_products over every tile, two at a time, for output channels [g, g + 4·nv). */
INLINE void winograd_products_all(const float *v, const float *u, float *m, int cin, int cout, int g, int nv) {
  int t = 0;
  for (; t + 2 <= TILES; t += 2) winograd_products(v, u, m, cin, cout, t, 2, g, nv);
  if (t < TILES) winograd_products(v, u, m, cin, cout, t, 1, g, nv);
}

/* out[H2][H2][cout] (+ bias, when given) from a padded [PP][PP][cin] grid and a transformed filter. */
INLINE void winograd14(const float *in, const float *u, const float *bias, float *out, int cin, int cout) {
  winograd_input(in, cin, wino_v);
  for (int x = 0; x < 16; x++) {
    const float *v = wino_v + x * TILES * cin, *ux = u + x * cin * cout;
    float *m = wino_m + x * TILES * cout;
    /* Sixteen output channels at a time (eight when fewer are left), the width a constant in each call. */
    int g = 0;
    for (; g + 16 <= cout; g += 16) winograd_products_all(v, ux, m, cin, cout, g, 4);
    if (g < cout) winograd_products_all(v, ux, m, cin, cout, g, 2);
  }
  for (int ti = 0; ti < H3; ti++) {
    for (int tj = 0; tj < H3; tj++) {
      const int t = ti * H3 + tj;
      float *o0 = out + (2 * ti * H2 + 2 * tj) * cout;
      for (int o = 0; o < cout; o += 4) {
        f4 s[4][2];
        for (int i = 0; i < 4; i++) {
          const f4 m0 = LD(wino_m + ((i * 4 + 0) * TILES + t) * cout + o), m1 = LD(wino_m + ((i * 4 + 1) * TILES + t) * cout + o);
          const f4 m2 = LD(wino_m + ((i * 4 + 2) * TILES + t) * cout + o), m3 = LD(wino_m + ((i * 4 + 3) * TILES + t) * cout + o);
          s[i][0] = ADD(ADD(m0, m1), m2);
          s[i][1] = SUB(SUB(m1, m2), m3);
        }
        const f4 b = bias ? LD(bias + o) : ZERO;
        for (int j = 0; j < 2; j++) {
          ST(o0 + j * cout + o, ADD(b, ADD(ADD(s[0][j], s[1][j]), s[2][j])));
          ST(o0 + (H2 + j) * cout + o, ADD(b, SUB(SUB(s[1][j], s[2][j]), s[3][j])));
        }
      }
    }
  }
}

INLINE void channel_sums(const float *z, int pixels, int channels, float *out) {
  for (int c = 0; c < channels; c += 4) {
    f4 s = ZERO;
    for (int p = 0; p < pixels; p++) s = ADD(s, LD(z + p * channels + c));
    ST(out + c, s);
  }
}

INLINE void centered_squares(const float *z, int pixels, int channels, const float *mean, float *out) {
  for (int c = 0; c < channels; c += 4) {
    const f4 m = LD(mean + c);
    f4 s = ZERO;
    for (int p = 0; p < pixels; p++) {
      const f4 d = SUB(LD(z + p * channels + c), m);
      s = MADD(d, d, s);
    }
    ST(out + c, s);
  }
}

/* Σ over images in order, in double, divided by n. */
static void combine(const float *per_image, int batch, int channels, double n, double *out) {
  for (int c = 0; c < channels; c++) out[c] = 0;
  for (int b = 0; b < batch; b++)
    for (int c = 0; c < channels; c++) out[c] += per_image[b * channels + c];
  for (int c = 0; c < channels; c++) out[c] /= n;
}

/*
 * Batch norm (z − μ)·γ/σ + β, ReLU and 2×2 max pool of one image, [h][h][ch] →
 * pooled values written at `out` (row stride out_row, pixel stride ch), and
 * route[i][j][c] = the window position (0..3, row-major) of the first maximum,
 * or 4 when the maximum is not positive (the ReLU passed nothing back).
 */
INLINE void bn_relu_pool(const float *z, int h, int ch, const float *mean, const float *scale, const float *shift, float *out, int out_row, int32_t *route) {
  const int ho = h / 2;
  for (int i = 0; i < ho; i++) {
    for (int j = 0; j < ho; j++) {
      const float *q = z + ((2 * i) * h + 2 * j) * ch;
      for (int c = 0; c < ch; c += 4) {
        const f4 m = LD(mean + c), s = LD(scale + c), t = LD(shift + c);
        const f4 y0 = MADD(SUB(LD(q + c), m), s, t);
        const f4 y1 = MADD(SUB(LD(q + ch + c), m), s, t);
        const f4 y2 = MADD(SUB(LD(q + h * ch + c), m), s, t);
        const f4 y3 = MADD(SUB(LD(q + h * ch + ch + c), m), s, t);
        const f4 top = wasm_f32x4_max(wasm_f32x4_max(y0, y1), wasm_f32x4_max(y2, y3));
        const f4 positive = wasm_f32x4_gt(top, ZERO);
        v128_t r = wasm_i32x4_splat(3);
        r = wasm_v128_bitselect(wasm_i32x4_splat(2), r, wasm_f32x4_eq(y2, top));
        r = wasm_v128_bitselect(wasm_i32x4_splat(1), r, wasm_f32x4_eq(y1, top));
        r = wasm_v128_bitselect(wasm_i32x4_splat(0), r, wasm_f32x4_eq(y0, top));
        r = wasm_v128_bitselect(r, wasm_i32x4_splat(4), positive);
        ST(out + i * out_row + j * ch + c, wasm_v128_and(top, positive));
        ST(route + (i * ho + j) * ch + c, r);
      }
    }
  }
}

/* γ/σ from the batch variance, as the reference rounds it: 1/sqrt(float(var + ε)). */
static void bn_scale(const double *mean, const double *var, const float *gamma, const float *beta, int ch, float epsilon, float *mean_f, float *inv,
                     float *scale, float *shift, float *stats) {
  for (int c = 0; c < ch; c++) {
    mean_f[c] = (float)mean[c];
    inv[c] = (float)(1.0 / __builtin_sqrt((double)(float)(var[c] + epsilon)));
    scale[c] = gamma[c] * inv[c];
    shift[c] = beta[c];
    stats[c] = (float)mean[c];
    stats[ch + c] = (float)var[c];
  }
}

/*
 * The hidden layer of images [b0, b1): hact = ReLU(flat·W + b), and hout = hact
 * times the dropout mask in training (hact itself in evaluation). Tiles of four
 * images × eight units (NP images at the end) over blocks of 64 inputs, so a
 * block of W serves every image from cache; each value still sums its inputs in
 * order from the bias.
 */
#define HID_BLOCK 64
INLINE void hidden_tile(const float *w, int b, int np, int f0, int f1) {
  for (int u = 0; u < HID; u += 8) {
    f4 acc[4][2];
    for (int p = 0; p < np; p++)
      for (int v = 0; v < 2; v++) acc[p][v] = LD(hact + (b + p) * HID + u + 4 * v);
    for (int f = f0; f < f1; f++) {
      const f4 w0 = LD(w + f * HID + u), w1 = LD(w + f * HID + u + 4);
      for (int p = 0; p < np; p++) {
        const f4 x = BCAST(flat + (b + p) * FEAT + f);
        acc[p][0] = MADD(x, w0, acc[p][0]), acc[p][1] = MADD(x, w1, acc[p][1]);
      }
    }
    for (int p = 0; p < np; p++)
      for (int v = 0; v < 2; v++) ST(hact + (b + p) * HID + u + 4 * v, acc[p][v]);
  }
}

static void hidden_forward(int b0, int b1, int training) {
  const float *w = params + O_HK;
  for (int b = b0; b < b1; b++)
    for (int u = 0; u < HID; u += 4) ST(hact + b * HID + u, LD(params + O_HB + u));
  for (int f0 = 0; f0 < FEAT; f0 += HID_BLOCK) {
    const int f1 = f0 + HID_BLOCK < FEAT ? f0 + HID_BLOCK : FEAT;
    int b = b0;
    for (; b + 4 <= b1; b += 4) hidden_tile(w, b, 4, f0, f1);
    for (; b < b1; b++) hidden_tile(w, b, 1, f0, f1);
  }
  for (int b = b0; b < b1; b++) {
    for (int u = 0; u < HID; u += 4) {
      const f4 a = wasm_f32x4_max(LD(hact + b * HID + u), ZERO);
      ST(hact + b * HID + u, a);
      ST(hout + b * HID + u, training ? MUL(a, LD(hmask + b * HID + u)) : a);
    }
  }
}

/* The output layer's logits of images [b0, b1) from their inputs `in` [b][DIN]. */
static void dense_forward(const float *in, int b0, int b1) {
  for (int b = b0; b < b1; b++) {
    const float *f = in + b * DIN;
    for (int k = 0; k < K; k++) {
      const float *w = wdt + k * DIN;
      f4 s0 = ZERO, s1 = ZERO;
      for (int i = 0; i < DIN; i += 8) s0 = MADD(LD(f + i), LD(w + i), s0), s1 = MADD(LD(f + i + 4), LD(w + i + 4), s1);
      const f4 s = ADD(s0, s1);
      logits[b * LS + k] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) + (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3)) +
                           params[O_DB + k];
    }
  }
}

static void transpose_dense(void) {
  for (int f = 0; f < DIN; f++)
    for (int k = 0; k < K; k++) wdt[k * DIN + f] = params[O_DK + f * K + k];
}

/* The layers after the convolutions, of images [b0, b1). */
static void head_forward(int b0, int b1, int training) {
  if (HID) hidden_forward(b0, b1, training);
  dense_forward(HID ? hout : flat, b0, b1);
}

/*
 * Evaluation-mode forward (running statistics) of `batch` images at
 * cnn_input(): logits at cnn_logits() (stride cnn_logit_stride()).
 */
INLINE void infer(int c1, int c2, int batch, float epsilon) {
  float mean[MAX_C], scale[MAX_C], shift[MAX_C];
  transpose_dense();
  winograd_filter(params + O_C2K, u2, c1, c2);
  for (int c = 0; c < c1; c++) {
    mean[c] = running[c];
    scale[c] = params[O_G1 + c] * (float)(1.0 / __builtin_sqrt((double)(running[c1 + c] + epsilon)));
    shift[c] = params[O_B1 + c];
  }
  for (int b = 0; b < batch; b++) {
    pad_input(b);
    conv1_forward(c1, b);
    bn_relu_pool(z1 + b * H1 * H1 * c1, H1, c1, mean, scale, shift, p1pad + b * PP * PP * c1 + (PP + 1) * c1, PP * c1, route1 + b * H2 * H2 * c1);
  }
  for (int c = 0; c < c2; c++) {
    mean[c] = running[2 * c1 + c];
    scale[c] = params[O_G2 + c] * (float)(1.0 / __builtin_sqrt((double)(running[2 * c1 + c2 + c] + epsilon)));
    shift[c] = params[O_B2 + c];
  }
  for (int b = 0; b < batch; b++) {
    float *z = z2 + b * H2 * H2 * c2;
    winograd14(p1pad + b * PP * PP * c1, u2, params + O_C2B, z, c1, c2);
    bn_relu_pool(z, H2, c2, mean, scale, shift, flat + b * FEAT, H3 * c2, route2 + b * FEAT);
  }
  head_forward(0, batch, 0);
}

/* ---- backward --------------------------------------------------------------------------------- */

/*
 * Σ g and Σ g·(z − μ) over one image's routed positions: the pooled gradient
 * `dpool` [h/2][h/2][ch] goes to its window's first maximum (route 0..3) or
 * nowhere (4).
 */
INLINE void routed_sums(const float *z, const float *dpool, const int32_t *route, int h, int ch, const float *mean, float *gs, float *gcs) {
  const int ho = h / 2;
  for (int c = 0; c < ch; c += 4) {
    const f4 m = LD(mean + c);
    f4 sg = ZERO, sgc = ZERO;
    for (int i = 0; i < ho; i++) {
      for (int j = 0; j < ho; j++) {
        const int at = (i * ho + j) * ch + c;
        const v128_t r = LD(route + at);
        const f4 g = LD(dpool + at);
        const float *q = z + ((2 * i) * h + 2 * j) * ch + c;
        f4 zc = LD(q + h * ch + ch);
        zc = wasm_v128_bitselect(LD(q + h * ch), zc, wasm_i32x4_eq(r, wasm_i32x4_splat(2)));
        zc = wasm_v128_bitselect(LD(q + ch), zc, wasm_i32x4_eq(r, wasm_i32x4_splat(1)));
        zc = wasm_v128_bitselect(LD(q), zc, wasm_i32x4_eq(r, wasm_i32x4_splat(0)));
        const f4 gr = wasm_v128_andnot(g, wasm_i32x4_eq(r, wasm_i32x4_splat(4)));
        sg = ADD(sg, gr);
        sgc = MADD(gr, SUB(zc, m), sgc);
      }
    }
    ST(gs + c, sg);
    ST(gcs + c, sgc);
  }
}

/* dz = γ/σ·(g − mean(g) − x̂·mean(g·x̂)) = a·g + k·(z − μ) + off, and dγ, dβ (from the whole batch's sums). */
static void bn_backward_coefficients(const float *gs, const float *gcs, int batch, int ch, double n, const float *gamma, const float *inv, float *a, float *k,
                                     float *off, float *dgamma, float *dbeta) {
  double sg[MAX_C], sgc[MAX_C];
  combine(gs, batch, ch, 1.0, sg);
  combine(gcs, batch, ch, 1.0, sgc);
  for (int c = 0; c < ch; c++) {
    const double s = inv[c];
    const double ac = (double)gamma[c] * s;
    a[c] = (float)ac;
    k[c] = (float)(-ac * s * s * (sgc[c] / n));
    off[c] = (float)(-ac * (sg[c] / n));
    dgamma[c] = (float)(sgc[c] * s);
    dbeta[c] = (float)sg[c];
  }
}

/* dz of a pooled grid position's window, [2][2] × 4 channels. */
INLINE f4 dz_at(const float *zq, f4 g, v128_t r, int position, f4 m, f4 a, f4 k, f4 off) {
  const f4 gr = wasm_v128_and(g, wasm_i32x4_eq(r, wasm_i32x4_splat(position)));
  return MADD(a, gr, MADD(k, SUB(LD(zq), m), off));
}

/* The second block's dz of image b into the padded grid dz2pad, and its bias gradient. */
INLINE void dz2_image(int c2, int b, float *dbias) {
  const float *z = z2 + b * H2 * H2 * c2;
  const float *dpool = dflat + b * FEAT;
  const int32_t *route = route2 + b * FEAT;
  float *out = dz2pad + b * PP * PP * c2 + (PP + 1) * c2;
  for (int c = 0; c < c2; c += 4) {
    const f4 m = LD(mean2 + c), a = LD(bn_a2 + c), k = LD(bn_k2 + c), off = LD(bn_off2 + c);
    f4 s = LD(dbias + c);
    for (int i = 0; i < H3; i++) {
      for (int j = 0; j < H3; j++) {
        const int at = (i * H3 + j) * c2 + c;
        const v128_t r = LD(route + at);
        const f4 g = LD(dpool + at);
        const float *q = z + ((2 * i) * H2 + 2 * j) * c2 + c;
        float *o = out + ((2 * i) * PP + 2 * j) * c2 + c;
        const f4 d0 = dz_at(q, g, r, 0, m, a, k, off), d1 = dz_at(q + c2, g, r, 1, m, a, k, off);
        const f4 d2 = dz_at(q + H2 * c2, g, r, 2, m, a, k, off), d3 = dz_at(q + H2 * c2 + c2, g, r, 3, m, a, k, off);
        ST(o, d0), ST(o + c2, d1), ST(o + PP * c2, d2), ST(o + PP * c2 + c2, d3);
        s = ADD(s, ADD(ADD(d0, d1), ADD(d2, d3)));
      }
    }
    ST(dbias + c, s);
  }
}

/*
 * The second convolution's filter gradient through the same transforms, the
 * exact gradient of winograd14: dL/dU[ξ][c][o] = Σ_t V[ξ][t][c]·E[ξ][t][o],
 * with E = A·dY·Aᵀ of each 2×2 block of dz, summed over a half's images in
 * order (winograd_filter_gradient_add); then dW = Gᵀ·dL/dU·G
 * (winograd_filter_gradient_end).
 */
INLINE void winograd_filter_gradient_add(int c1, int c2, int b, float *du) {
  winograd_input(p1pad + b * PP * PP * c1, c1, wino_v);
  const float *dz = dz2pad + b * PP * PP * c2 + (PP + 1) * c2;
  for (int ti = 0; ti < H3; ti++) {
    for (int tj = 0; tj < H3; tj++) {
      const int t = ti * H3 + tj;
      const float *y = dz + (2 * ti * PP + 2 * tj) * c2;
      for (int o = 0; o < c2; o += 4) {
        const f4 y00 = LD(y + o), y01 = LD(y + c2 + o), y10 = LD(y + PP * c2 + o), y11 = LD(y + PP * c2 + c2 + o);
        const f4 r[4][2] = {{y00, y01}, {ADD(y00, y10), ADD(y01, y11)}, {SUB(y00, y10), SUB(y01, y11)}, {SUB(ZERO, y10), SUB(ZERO, y11)}};
        for (int i = 0; i < 4; i++) {
          const f4 e[4] = {r[i][0], ADD(r[i][0], r[i][1]), SUB(r[i][0], r[i][1]), SUB(ZERO, r[i][1])};
          for (int j = 0; j < 4; j++) ST(wino_m + ((i * 4 + j) * TILES + t) * c2 + o, e[j]);
        }
      }
    }
  }
  for (int x = 0; x < 16; x++) {
    const float *v = wino_v + x * TILES * c1, *e = wino_m + x * TILES * c2;
    float *d = du + x * c1 * c2;
    for (int c = 0; c < c1; c += 4) {
      for (int h = 0; h < c2; h += 8) {
        f4 acc[4][2];
        for (int r = 0; r < 4; r++)
          for (int q = 0; q < 2; q++) acc[r][q] = LD(d + (c + r) * c2 + h + 4 * q);
        for (int t = 0; t < TILES; t++) {
          const f4 e0 = LD(e + t * c2 + h), e1 = LD(e + t * c2 + h + 4);
          for (int r = 0; r < 4; r++) {
            const f4 u = BCAST(v + t * c1 + c + r);
            acc[r][0] = MADD(u, e0, acc[r][0]), acc[r][1] = MADD(u, e1, acc[r][1]);
          }
        }
        for (int r = 0; r < 4; r++)
          for (int q = 0; q < 2; q++) ST(d + (c + r) * c2 + h + 4 * q, acc[r][q]);
      }
    }
  }
}

INLINE void winograd_filter_gradient_end(int c1, int c2, const float *du, float *dw) {
  const f4 half = SPLAT(0.5f);
  for (int c = 0; c < c1; c++) {
    for (int o = 0; o < c2; o += 4) {
      f4 m[4][4], t[3][4];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) m[i][j] = LD(du + ((i * 4 + j) * c1 + c) * c2 + o);
      for (int j = 0; j < 4; j++) {
        t[0][j] = ADD(m[0][j], MUL(ADD(m[1][j], m[2][j]), half));
        t[1][j] = MUL(SUB(m[1][j], m[2][j]), half);
        t[2][j] = ADD(MUL(ADD(m[1][j], m[2][j]), half), m[3][j]);
      }
      for (int a = 0; a < 3; a++) {
        ST(dw + ((a * 3 + 0) * c1 + c) * c2 + o, ADD(t[a][0], MUL(ADD(t[a][1], t[a][2]), half)));
        ST(dw + ((a * 3 + 1) * c1 + c) * c2 + o, MUL(SUB(t[a][1], t[a][2]), half));
        ST(dw + ((a * 3 + 2) * c1 + c) * c2 + o, ADD(MUL(ADD(t[a][1], t[a][2]), half), t[a][3]));
      }
    }
  }
}

/* The first block's gradient of image b: dz row by row, then the filter and bias gradients. */
INLINE void conv1_gradient(int c1, int b, float *dw, float *dbias) {
  const float *x = xpad + b * XP * XP;
  const float *z = z1 + b * H1 * H1 * c1;
  const float *dpool = dp1 + b * H2 * H2 * c1;
  const int32_t *route = route1 + b * H2 * H2 * c1;
  f4 s[MAX_C / 4], acc[3][2];
  for (int v = 0; v < c1 / 4; v++) s[v] = LD(dbias + 4 * v);
  for (int i = 0; i < H1; i++) {
    for (int j = 0; j < H1; j++) {
      const int position = (i & 1) * 2 + (j & 1);
      const int at = ((i / 2) * H2 + j / 2) * c1;
      for (int v = 0; v < c1 / 4; v++) {
        const int c = 4 * v;
        const f4 d = dz_at(z + (i * H1 + j) * c1 + c, LD(dpool + at + c), LD(route + at + c), position, LD(mean1 + c), LD(bn_a1 + c), LD(bn_k1 + c),
                           LD(bn_off1 + c));
        ST(dz1_row + j * c1 + c, d);
        s[v] = ADD(s[v], d);
      }
    }
    for (int a = 0; a < 3; a++) {
      for (int h = 0; h < c1; h += 8) {
        float *d = dw + a * 3 * c1 + h;
        for (int r = 0; r < 3; r++)
          for (int v = 0; v < 2; v++) acc[r][v] = LD(d + r * c1 + 4 * v);
        const float *xr = x + (i + a) * XP;
        for (int j = 0; j < H1; j++) {
          const f4 g0 = LD(dz1_row + j * c1 + h), g1 = LD(dz1_row + j * c1 + h + 4);
          for (int r = 0; r < 3; r++) {
            const f4 u = BCAST(xr + j + r);
            acc[r][0] = MADD(u, g0, acc[r][0]);
            acc[r][1] = MADD(u, g1, acc[r][1]);
          }
        }
        for (int r = 0; r < 3; r++)
          for (int v = 0; v < 2; v++) ST(d + r * c1 + 4 * v, acc[r][v]);
      }
    }
  }
  for (int v = 0; v < c1 / 4; v++) ST(dbias + 4 * v, s[v]);
}

/* Which half of the batch image b belongs to: its weight gradients are summed there. */
static int half_of(int b, int batch) { return b < (batch + 1) / 2 ? 0 : 1; }

/* Whether images [b0, b1) hold any of half h. */
static int covers_half(int b0, int b1, int batch, int h) { return b1 > b0 && half_of(b0, batch) <= h && half_of(b1 - 1, batch) >= h; }

/*
 * The output layer's backward for images [b0, b1): din = dlogits·Wᵀ, the half's
 * dW (transposed) += inᵀ·dlogits, db += dlogits.
 */
INLINE void dense_backward_k(const float *in, float *din, int b0, int b1, int batch, int K) {
  for (int b = b0; b < b1; b++) {
    const float *f = in + b * DIN;
    float *df = din + b * DIN;
    float *dw = dwdt[half_of(b, batch)];
    float *g = half_grads[half_of(b, batch)];
    f4 d[MAX_CLASSES];
    for (int k = 0; k < K; k++) d[k] = SPLAT(dlogits[b * LS + k]);
    for (int i = 0; i < DIN; i += 4) {
      const f4 x = LD(f + i);
      f4 acc = MUL(d[0], LD(wdt + i));
      for (int k = 1; k < K; k++) acc = MADD(d[k], LD(wdt + k * DIN + i), acc);
      ST(df + i, acc);
      for (int k = 0; k < K; k++) ST(dw + k * DIN + i, MADD(d[k], x, LD(dw + k * DIN + i)));
    }
    for (int k = 0; k < K; k++) g[O_DB + k] += dlogits[b * LS + k];
  }
}

/* With the class count a constant for the SPEC's three classes, so the class loops unroll and the gradients stay in registers. */
static void dense_backward(const float *in, float *din, int b0, int b1, int batch) {
  if (K == 3) dense_backward_k(in, din, b0, b1, batch, 3);
  else dense_backward_k(in, din, b0, b1, batch, K);
}

/* dflat of rows [f, f + nf) × images [b, b + np): see hidden_backward. */
INLINE void hidden_input_gradient(const float *w, int f, int nf, int b, int np) {
  f4 s0[2][2], s1[2][2];
  for (int r = 0; r < nf; r++)
    for (int p = 0; p < np; p++) s0[r][p] = ZERO, s1[r][p] = ZERO;
  for (int u = 0; u < HID; u += 8) {
    f4 d0[2], d1[2];
    for (int p = 0; p < np; p++) d0[p] = LD(dhid + (b + p) * HID + u), d1[p] = LD(dhid + (b + p) * HID + u + 4);
    for (int r = 0; r < nf; r++) {
      const f4 w0 = LD(w + (f + r) * HID + u), w1 = LD(w + (f + r) * HID + u + 4);
      for (int p = 0; p < np; p++) s0[r][p] = MADD(w0, d0[p], s0[r][p]), s1[r][p] = MADD(w1, d1[p], s1[r][p]);
    }
  }
  for (int r = 0; r < nf; r++) {
    for (int p = 0; p < np; p++) {
      const f4 s = ADD(s0[r][p], s1[r][p]);
      dflat[(b + p) * FEAT + f + r] =
          (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) + (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
    }
  }
}

/*
 * The hidden layer's backward for images [b0, b1), given dL/dhout at dhid:
 * through the dropout mask and the ReLU (in place), the half's bias and
 * kernel gradients, and dflat = dpre·Wᵀ.
 */
static void hidden_backward(int b0, int b1, int batch) {
  const float *w = params + O_HK;
  for (int b = b0; b < b1; b++) {
    float *g = half_grads[half_of(b, batch)] + O_HB;
    for (int u = 0; u < HID; u += 4) {
      const f4 passed = wasm_f32x4_gt(LD(hact + b * HID + u), ZERO);
      const f4 d = wasm_v128_and(MUL(LD(dhid + b * HID + u), LD(hmask + b * HID + u)), passed);
      ST(dhid + b * HID + u, d);
      ST(g + u, ADD(LD(g + u), d));
    }
  }
  /* dW[f][u] += Σ_b flat[b][f]·dpre[b][u] over each half's images in order: tiles of four inputs × eight units. */
  for (int h = 0; h < 2; h++) {
    int lo = b0, hi = b1;
    while (lo < hi && half_of(lo, batch) != h) lo++;
    while (hi > lo && half_of(hi - 1, batch) != h) hi--;
    if (lo >= hi) continue;
    float *dw = half_grads[h] + O_HK;
    for (int f = 0; f < FEAT; f += 4) {
      for (int u = 0; u < HID; u += 8) {
        f4 acc[4][2];
        for (int r = 0; r < 4; r++)
          for (int v = 0; v < 2; v++) acc[r][v] = LD(dw + (f + r) * HID + u + 4 * v);
        for (int b = lo; b < hi; b++) {
          const f4 g0 = LD(dhid + b * HID + u), g1 = LD(dhid + b * HID + u + 4);
          for (int r = 0; r < 4; r++) {
            const f4 x = BCAST(flat + b * FEAT + f + r);
            acc[r][0] = MADD(x, g0, acc[r][0]), acc[r][1] = MADD(x, g1, acc[r][1]);
          }
        }
        for (int r = 0; r < 4; r++)
          for (int v = 0; v < 2; v++) ST(dw + (f + r) * HID + u + 4 * v, acc[r][v]);
      }
    }
  }
  /*
   * dflat[b][f] = Σ_u dpre[b][u]·W[f][u], in two sums of alternate groups of
   * four units (then across lanes): tiles of two rows of W × two images.
   */
  int f = 0;
  for (; f + 2 <= FEAT; f += 2) {
    int b = b0;
    for (; b + 2 <= b1; b += 2) hidden_input_gradient(w, f, 2, b, 2);
    if (b < b1) hidden_input_gradient(w, f, 2, b, 1);
  }
  for (; f < FEAT; f++)
    for (int b = b0; b < b1; b++) hidden_input_gradient(w, f, 1, b, 1);
}

/* ---- the training step, in phases ---------------------------------------------------------- */

/*
 * Phase p works on images [b0, b1) of a batch of `batch`. What a phase needs
 * of the other images are their per-image sums (cnn_sums), which the host
 * copies between instances when two workers share a batch, one half each;
 * everything computed from them (means, variances, batch-norm coefficients)
 * is then the same in both. cnn_forward and cnn_backward run every phase over
 * the whole batch in one instance: the same operations in the same order.
 *
 *   0  conv1, per-image sums                 → sum1
 *   1  batch mean 1, centred squares         → sq1
 *   2  batch norm 1, ReLU, pool, conv2       → sum2
 *   3  batch mean 2, centred squares         → sq2
 *   4  batch norm 2, ReLU, pool, dense layers → logits (host: dlogits)
 *   5  dense layers backward, routed sums 2  → gsum2, gcsum2
 *   6  block 2 backward, conv2 gradients     → gsum1, gcsum1
 *   7  block 1 backward, conv1 gradients, the half's dense gradient
 */
static double bn_mean1[MAX_C], bn_mean2[MAX_C];
static float scale1[MAX_C], shift1[MAX_C], scale2[MAX_C], shift2[MAX_C];

INLINE void phase_forward(int c1, int c2, int phase, int b0, int b1, int batch, float epsilon) {
  const double n1 = (double)batch * H1 * H1, n2 = (double)batch * H2 * H2;
  double var[MAX_C];
  switch (phase) {
    case 0:
      transpose_dense();
      winograd_filter(params + O_C2K, u2, c1, c2);
      for (int b = b0; b < b1; b++) {
        pad_input(b);
        conv1_forward(c1, b);
      }
      break;
    case 1:
      combine(sum1, batch, c1, n1, bn_mean1);
      for (int c = 0; c < c1; c++) mean1[c] = (float)bn_mean1[c];
      for (int b = b0; b < b1; b++) centered_squares(z1 + b * H1 * H1 * c1, H1 * H1, c1, mean1, sq1 + b * c1);
      break;
    case 2:
      combine(sq1, batch, c1, n1, var);
      bn_scale(bn_mean1, var, params + O_G1, params + O_B1, c1, epsilon, mean1, inv1, scale1, shift1, batch_stats);
      for (int b = b0; b < b1; b++) {
        bn_relu_pool(z1 + b * H1 * H1 * c1, H1, c1, mean1, scale1, shift1, p1pad + b * PP * PP * c1 + (PP + 1) * c1, PP * c1, route1 + b * H2 * H2 * c1);
        float *z = z2 + b * H2 * H2 * c2;
        winograd14(p1pad + b * PP * PP * c1, u2, params + O_C2B, z, c1, c2);
        channel_sums(z, H2 * H2, c2, sum2 + b * c2);
      }
      break;
    case 3:
      combine(sum2, batch, c2, n2, bn_mean2);
      for (int c = 0; c < c2; c++) mean2[c] = (float)bn_mean2[c];
      for (int b = b0; b < b1; b++) centered_squares(z2 + b * H2 * H2 * c2, H2 * H2, c2, mean2, sq2 + b * c2);
      break;
    case 4:
      combine(sq2, batch, c2, n2, var);
      bn_scale(bn_mean2, var, params + O_G2, params + O_B2, c2, epsilon, mean2, inv2, scale2, shift2, batch_stats + 2 * c1);
      for (int b = b0; b < b1; b++) bn_relu_pool(z2 + b * H2 * H2 * c2, H2, c2, mean2, scale2, shift2, flat + b * FEAT, H3 * c2, route2 + b * FEAT);
      head_forward(b0, b1, 1);
      break;
  }
}

INLINE void phase_backward(int c1, int c2, int phase, int b0, int b1, int batch) {
  switch (phase) {
    case 5:
      zero(half_grads[0], N_PADDED);
      zero(half_grads[1], N_PADDED);
      zero(dwdt[0], K * DIN);
      zero(dwdt[1], K * DIN);
      zero(du2, 32 * c1 * c2);
      for (int i = 0; i < 3; i++)
        for (int bb = 0; bb < 3; bb++)
          for (int c = 0; c < c1; c++)
            for (int o = 0; o < c2; o++) w2t[((i * 3 + bb) * c2 + o) * c1 + c] = params[O_C2K + (((2 - i) * 3 + (2 - bb)) * c1 + c) * c2 + o];
      winograd_filter(w2t, u2t, c2, c1);
      if (HID) {
        dense_backward(hout, dhid, b0, b1, batch);
        hidden_backward(b0, b1, batch);
      } else {
        dense_backward(flat, dflat, b0, b1, batch);
      }
      for (int b = b0; b < b1; b++)
        routed_sums(z2 + b * H2 * H2 * c2, dflat + b * FEAT, route2 + b * FEAT, H2, c2, mean2, gsum2 + b * c2, gcsum2 + b * c2);
      break;
    case 6: {
      float dgamma[MAX_C], dbeta[MAX_C];
      bn_backward_coefficients(gsum2, gcsum2, batch, c2, (double)batch * H2 * H2, params + O_G2, inv2, bn_a2, bn_k2, bn_off2, dgamma, dbeta);
      for (int c = 0; c < c2; c++) grads[O_G2 + c] = dgamma[c], grads[O_B2 + c] = dbeta[c];
      for (int b = b0; b < b1; b++) {
        float *g = half_grads[half_of(b, batch)];
        dz2_image(c2, b, g + O_C2B);
        winograd_filter_gradient_add(c1, c2, b, du2 + half_of(b, batch) * 16 * c1 * c2);
        winograd14(dz2pad + b * PP * PP * c2, u2t, 0, dp1 + b * H2 * H2 * c1, c2, c1);
        routed_sums(z1 + b * H1 * H1 * c1, dp1 + b * H2 * H2 * c1, route1 + b * H2 * H2 * c1, H1, c1, mean1, gsum1 + b * c1, gcsum1 + b * c1);
      }
      for (int h = 0; h < 2; h++)
        if (covers_half(b0, b1, batch, h)) winograd_filter_gradient_end(c1, c2, du2 + h * 16 * c1 * c2, half_grads[h] + O_C2K);
      break;
    }
    case 7: {
      float dgamma[MAX_C], dbeta[MAX_C];
      bn_backward_coefficients(gsum1, gcsum1, batch, c1, (double)batch * H1 * H1, params + O_G1, inv1, bn_a1, bn_k1, bn_off1, dgamma, dbeta);
      for (int c = 0; c < c1; c++) grads[O_G1 + c] = dgamma[c], grads[O_B1 + c] = dbeta[c];
      for (int b = b0; b < b1; b++) {
        float *g = half_grads[half_of(b, batch)];
        conv1_gradient(c1, b, g + O_C1K, g + O_C1B);
      }
      for (int h = 0; h < 2; h++) {
        if (!covers_half(b0, b1, batch, h)) continue;
        for (int f = 0; f < DIN; f++)
          for (int k = 0; k < K; k++) half_grads[h][O_DK + f * K + k] = dwdt[h][k * DIN + f];
      }
      break;
    }
  }
}

/*
 * The convolutions' code with the channel counts as constants for the SPEC
 * network (16, 32) and the wide one (32, 64), and with them read at run time
 * for any other shape.
 */
#define NOINLINE static __attribute__((noinline))

/*
 * Each phase of each shape is a function of its own, never inlined into the
 * dispatch: the engine's optimising compiler tiers up the functions a run
 * calls, one phase at a time, instead of one function holding every phase of
 * every shape (the first epoch then runs in the baseline tier for longer).
 */
#define SHAPE_FUNCTIONS(tag, c1, c2)                                                                                         \
  NOINLINE void forward0_##tag(int b0, int b1, int batch, float epsilon) { phase_forward(c1, c2, 0, b0, b1, batch, epsilon); } \
  NOINLINE void forward1_##tag(int b0, int b1, int batch, float epsilon) { phase_forward(c1, c2, 1, b0, b1, batch, epsilon); } \
  NOINLINE void forward2_##tag(int b0, int b1, int batch, float epsilon) { phase_forward(c1, c2, 2, b0, b1, batch, epsilon); } \
  NOINLINE void forward3_##tag(int b0, int b1, int batch, float epsilon) { phase_forward(c1, c2, 3, b0, b1, batch, epsilon); } \
  NOINLINE void forward4_##tag(int b0, int b1, int batch, float epsilon) { phase_forward(c1, c2, 4, b0, b1, batch, epsilon); } \
  NOINLINE void backward5_##tag(int b0, int b1, int batch) { phase_backward(c1, c2, 5, b0, b1, batch); }                       \
  NOINLINE void backward6_##tag(int b0, int b1, int batch) { phase_backward(c1, c2, 6, b0, b1, batch); }                       \
  NOINLINE void backward7_##tag(int b0, int b1, int batch) { phase_backward(c1, c2, 7, b0, b1, batch); }                       \
  NOINLINE void infer_##tag(int batch, float epsilon) { infer(c1, c2, batch, epsilon); }                                       \
  static void phase_##tag(int phase, int b0, int b1, int batch, float epsilon) {                                               \
    switch (phase) {                                                                                                           \
      case 0: forward0_##tag(b0, b1, batch, epsilon); break;                                                                   \
      case 1: forward1_##tag(b0, b1, batch, epsilon); break;                                                                   \
      case 2: forward2_##tag(b0, b1, batch, epsilon); break;                                                                   \
      case 3: forward3_##tag(b0, b1, batch, epsilon); break;                                                                   \
      case 4: forward4_##tag(b0, b1, batch, epsilon); break;                                                                   \
      case 5: backward5_##tag(b0, b1, batch); break;                                                                           \
      case 6: backward6_##tag(b0, b1, batch); break;                                                                           \
      case 7: backward7_##tag(b0, b1, batch); break;                                                                           \
    }                                                                                                                          \
  }

SHAPE_FUNCTIONS(spec, 16, 32)
SHAPE_FUNCTIONS(wide, 32, 64)
SHAPE_FUNCTIONS(any, C1, C2)

#define BY_SHAPE(call, ...)                                 \
  do {                                                      \
    if (C1 == 16 && C2 == 32) call##_spec(__VA_ARGS__);     \
    else if (C1 == 32 && C2 == 64) call##_wide(__VA_ARGS__); \
    else call##_any(__VA_ARGS__);                           \
  } while (0)

static void phase(int phase, int b0, int b1, int batch, float epsilon) { BY_SHAPE(phase, phase, b0, b1, batch, epsilon); }

/* One phase of the step over images [b0, b1) (see above). */
EXPORT void cnn_phase(int p, int b0, int b1, int batch, float epsilon) { phase(p, b0, b1, batch, epsilon); }

EXPORT void cnn_infer(int batch, float epsilon) { BY_SHAPE(infer, batch, epsilon); }

/* The per-image sums phase `phase` leaves for the others: pointer, and floats per image (cnn_sums_width). */
EXPORT float *cnn_sums(int phase) {
  switch (phase) {
    case 0: return sum1;
    case 1: return sq1;
    case 2: return sum2;
    case 3: return sq2;
    case 5: return gsum2;
    case 6: return gsum1;
    default: return 0;
  }
}
EXPORT float *cnn_sums_pair(int phase) { return phase == 5 ? gcsum2 : phase == 6 ? gcsum1 : 0; }
EXPORT int cnn_sums_width(int phase) { return phase == 0 || phase == 1 || phase == 6 ? C1 : phase == 2 || phase == 3 || phase == 5 ? C2 : 0; }
EXPORT float *cnn_half_grads(int h) { return half_grads[h]; }

/* grads = first half + second half (batch-norm γ and β come whole from their phases). */
EXPORT void cnn_combine(void) {
  for (int i = 0; i < N_PARAMS; i++) {
    if (i >= O_G1 && i < O_C2K) continue;
    if (i >= O_G2 && i < O_B2 + C2) continue;
    grads[i] = half_grads[0][i] + half_grads[1][i];
  }
}

/*
 * Training-mode forward of `batch` images at cnn_input() (dropout mask at
 * cnn_dropout_mask() when there is a hidden layer): logits at cnn_logits() and
 * the batch statistics at cnn_batch_stats().
 */
EXPORT void cnn_forward(int batch, float epsilon) {
  for (int p = 0; p < 5; p++) phase(p, 0, batch, batch, epsilon);
}

/*
 * Backward of the last cnn_forward, given dL/dlogits at cnn_dlogits(): the
 * gradients of every parameter at cnn_grads(), in the layout of cnn_params().
 */
EXPORT void cnn_backward(int batch) {
  for (int p = 5; p < 8; p++) phase(p, 0, batch, batch, 0);
  cnn_combine();
}

/*
 * Adam, tfjs's arithmetic operation for operation in float32 (so the same bits
 * as its optimizer): m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², x ← x −
 * lr·(m/c1)/(√(v/c2) + ε), with c1, c2 = 1 − β^t. Built without contraction,
 * so no product and sum fuse here. The host rounds each constant to float32
 * as tfjs does (1 − β1 in double, then rounded; step = −lr).
 */
EXPORT void cnn_adam(float step, float beta1, float beta2, float one_minus_b1, float one_minus_b2, float epsilon, float correction1, float correction2) {
  for (int i = 0; i < N_PARAMS; i++) {
    const float g = grads[i];
    const float m = adam_m[i] * beta1 + g * one_minus_b1;
    const float v = adam_v[i] * beta2 + (g * g) * one_minus_b2;
    adam_m[i] = m;
    adam_v[i] = v;
    params[i] = ((m / correction1) / (__builtin_sqrtf(v / correction2) + epsilon)) * step + params[i];
  }
}
