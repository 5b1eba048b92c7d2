/*
 * The SPEC's CNN (src/model/network.ts) as one WebAssembly module: the whole
 * training step (forward with batch statistics, backward, Adam) and the
 * evaluation-mode forward, with 128-bit SIMD and relaxed fused multiply-add.
 *
 *   [28×28×1] conv 3×3 'same' 16 → batch norm → ReLU → max pool 2
 *             conv 3×3 'same' 32 → batch norm → ReLU → max pool 2 → dense 1568 → 3
 *
 * NHWC activations, tfjs parameter layouts (HWIO filters, [in, out] dense).
 * The host (src/engine/cnn-kernel.ts) checks the layout below against the
 * network description, writes parameters, images and labels into this
 * module's memory and computes the loss from the logits (it has exp and log).
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
#define C1 16
#define H2 14           /* after the first pool: the second convolution */
#define C2 32
#define H3 7            /* after the second pool */
#define CLASSES 3
#define FEATURES (H3 * H3 * C2)
#define XP (H1 + 2)     /* zero-padded input width */
#define PP (H2 + 2)     /* zero-padded width of the 14×14 grids */

/* Parameters, in the network's order. */
enum { CONV1_K, CONV1_B, BN1_G, BN1_B, CONV2_K, CONV2_B, BN2_G, BN2_B, DENSE_K, DENSE_B, PARAMETER_COUNT };
static const int SIZES[PARAMETER_COUNT] = {9 * C1, C1, C1, C1, 9 * C1 * C2, C2, C2, C2, FEATURES * CLASSES, CLASSES};
#define O_C1K 0
#define O_C1B (O_C1K + 9 * C1)
#define O_G1 (O_C1B + C1)
#define O_B1 (O_G1 + C1)
#define O_C2K (O_B1 + C1)
#define O_C2B (O_C2K + 9 * C1 * C2)
#define O_G2 (O_C2B + C2)
#define O_B2 (O_G2 + C2)
#define O_DK (O_B2 + C2)
#define O_DB (O_DK + FEATURES * CLASSES)
#define N_PARAMS (O_DB + CLASSES)
#define N_PADDED ((N_PARAMS + 3) & ~3)
static const int OFFSETS[PARAMETER_COUNT] = {O_C1K, O_C1B, O_G1, O_B1, O_C2K, O_C2B, O_G2, O_B2, O_DK, O_DB};

/* Exported to the host; everything else stays internal. */
#define EXPORT __attribute__((visibility("default")))

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

/* ---- state ---------------------------------------------------------------------------------- */

static float params[N_PADDED] __attribute__((aligned(16)));
static float grads[N_PADDED] __attribute__((aligned(16)));
static float half_grads[2][N_PADDED] __attribute__((aligned(16)));
static float adam_m[N_PADDED] __attribute__((aligned(16)));
static float adam_v[N_PADDED] __attribute__((aligned(16)));
/* Running statistics: mean1, var1, mean2, var2 (evaluation mode). */
static float running[2 * C1 + 2 * C2] __attribute__((aligned(16)));
/* Batch statistics of the last training forward: mean1, var1 (biased), mean2, var2, as float. */
static float batch_stats[2 * C1 + 2 * C2] __attribute__((aligned(16)));
/* Second convolution's filter, flipped and transposed for its input gradient: [a][b][o][c]. */
static float w2t[9 * C1 * C2] __attribute__((aligned(16)));
/* Dense kernel transposed, [class][feature], and its gradient per half. */
static float wdt[CLASSES * FEATURES] __attribute__((aligned(16)));
static float dwdt[2][CLASSES * FEATURES] __attribute__((aligned(16)));
/* One row of the first block's dz, for its filter gradient. */
static float dz1_row[H1 * C1] __attribute__((aligned(16)));

/* Per-layer batch-norm coefficients of the current step. */
static float mean1[C1], inv1[C1], mean2[C2], inv2[C2];
static float bn_a1[C1], bn_k1[C1], bn_off1[C1], bn_a2[C2], bn_k2[C2], bn_off2[C2];

/* Batch buffers, laid out by cnn_reserve. */
static int capacity = 0;
static float *input, *xpad, *z1, *sum1, *sq1, *p1pad, *z2, *sum2, *sq2, *flat, *logits, *dlogits, *dflat, *dz2pad, *dp1;
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

/* ---- layout and memory ------------------------------------------------------------------------ */

EXPORT int cnn_parameter_count(void) { return PARAMETER_COUNT; }
EXPORT int cnn_parameter_size(int i) { return SIZES[i]; }
EXPORT int cnn_parameter_offset(int i) { return OFFSETS[i]; }
EXPORT int cnn_image_size(void) { return H1; }
EXPORT int cnn_classes(void) { return CLASSES; }
EXPORT float *cnn_params(void) { return params; }
EXPORT float *cnn_grads(void) { return grads; }
EXPORT float *cnn_adam_m(void) { return adam_m; }
EXPORT float *cnn_adam_v(void) { return adam_v; }
EXPORT float *cnn_running(void) { return running; }
EXPORT float *cnn_batch_stats(void) { return batch_stats; }
EXPORT float *cnn_input(void) { return input; }
EXPORT float *cnn_logits(void) { return logits; }
EXPORT float *cnn_dlogits(void) { return dlogits; }

/* Lay out buffers for batches of up to `batch` images; 0 when memory cannot grow. */
EXPORT int cnn_reserve(int batch) {
  if (batch <= capacity) return 1;
  unsigned long floats = 0;
  const unsigned long per_image[] = {
      H1 * H1, XP * XP, H1 * H1 * C1, C1, C1, PP * PP * C1, H2 * H2 * C2, C2, C2, FEATURES, 4, 4, FEATURES, PP * PP * C2,
      H2 * H2 * C1, C1, C1, C2, C2, H2 * H2 * C1, FEATURES,
  };
  for (unsigned i = 0; i < sizeof per_image / sizeof per_image[0]; i++) floats += per_image[i] * (unsigned long)batch;
  unsigned long base = ((unsigned long)&__heap_base + 15) & ~15ul;
  unsigned long end = base + 4 * floats + 16 * 32;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (unsigned long)-1) return 0;
  float *at = (float *)base;
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
  TAKE(flat, FEATURES)
  TAKE(logits, 4)
  TAKE(dlogits, 4)
  TAKE(dflat, FEATURES)
  TAKE(dz2pad, PP * PP * C2)
  TAKE(dp1, H2 * H2 * C1)
  TAKE(gsum1, C1)
  TAKE(gcsum1, C1)
  TAKE(gsum2, C2)
  TAKE(gcsum2, C2)
  TAKE(route1, H2 * H2 * C1)
  TAKE(route2, FEATURES)
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

/* First convolution of image b into z1 (bias included), and its per-channel sums. */
static void conv1_forward(int b) {
  const float *x = xpad + b * XP * XP;
  float *z = z1 + b * H1 * H1 * C1;
  const float *w = params + O_C1K;
  const f4 bias0 = LD(params + O_C1B), bias1 = LD(params + O_C1B + 4), bias2 = LD(params + O_C1B + 8), bias3 = LD(params + O_C1B + 12);
  f4 s0 = ZERO, s1 = ZERO, s2 = ZERO, s3 = ZERO;
  for (int i = 0; i < H1; i++) {
    for (int j = 0; j < H1; j += 2) {
      f4 a0 = bias0, a1 = bias1, a2 = bias2, a3 = bias3;
      f4 c0 = bias0, c1 = bias1, c2 = bias2, c3 = bias3;
      for (int t = 0; t < 9; t++) {
        const float *px = x + (i + t / 3) * XP + j + t % 3;
        const f4 u = BCAST(px), v = BCAST(px + 1);
        const f4 w0 = LD(w + t * C1), w1 = LD(w + t * C1 + 4), w2 = LD(w + t * C1 + 8), w3 = LD(w + t * C1 + 12);
        a0 = MADD(u, w0, a0), a1 = MADD(u, w1, a1), a2 = MADD(u, w2, a2), a3 = MADD(u, w3, a3);
        c0 = MADD(v, w0, c0), c1 = MADD(v, w1, c1), c2 = MADD(v, w2, c2), c3 = MADD(v, w3, c3);
      }
      float *out = z + (i * H1 + j) * C1;
      ST(out, a0), ST(out + 4, a1), ST(out + 8, a2), ST(out + 12, a3);
      ST(out + 16, c0), ST(out + 20, c1), ST(out + 24, c2), ST(out + 28, c3);
      s0 = ADD(s0, ADD(a0, c0)), s1 = ADD(s1, ADD(a1, c1)), s2 = ADD(s2, ADD(a2, c2)), s3 = ADD(s3, ADD(a3, c3));
    }
  }
  float *s = sum1 + b * C1;
  ST(s, s0), ST(s + 4, s1), ST(s + 8, s2), ST(s + 12, s3);
}

/*
 * A 3×3 'same' convolution's rows over a zero-padded grid of width PP:
 * out[i][j][o] = bias[o] + Σ_{a, k} in[i + a][j·cin + k]·w[a][k][o], k running
 * over the 3·cin numbers that three neighbouring pixels hold. Two pixels and
 * sixteen output channels at a time: eight accumulators, the most that stay in
 * x86's sixteen vector registers as V8 compiles this (twelve spill, at half
 * the speed).
 */
static inline __attribute__((always_inline)) void conv_block(const float *in, const float *w, const float *bias, float *out, int cin, int cout) {
  const int k3 = 3 * cin;
  for (int g = 0; g < cout; g += 16) {
    f4 acc[2][4];
    for (int p = 0; p < 2; p++)
      for (int v = 0; v < 4; v++) acc[p][v] = bias ? LD(bias + g + 4 * v) : ZERO;
    for (int a = 0; a < 3; a++) {
      const float *row = in + a * PP * cin;
      const float *wa = w + a * k3 * cout + g;
      for (int k = 0; k < k3; k++) {
        f4 wv[4];
        for (int v = 0; v < 4; v++) wv[v] = LD(wa + k * cout + 4 * v);
        for (int p = 0; p < 2; p++) {
          const f4 u = BCAST(row + p * cin + k);
          for (int v = 0; v < 4; v++) acc[p][v] = MADD(u, wv[v], acc[p][v]);
        }
      }
    }
    for (int p = 0; p < 2; p++)
      for (int v = 0; v < 4; v++) ST(out + p * cout + g + 4 * v, acc[p][v]);
  }
}

/* out[H2][H2][cout] from a padded [PP][PP][cin] grid. */
static void conv14(const float *in, const float *w, const float *bias, float *out, int cin, int cout) {
  for (int i = 0; i < H2; i++)
    for (int j = 0; j < H2; j += 2) conv_block(in + (i * PP + j) * cin, w, bias, out + (i * H2 + j) * cout, cin, cout);
}

static void channel_sums(const float *z, int pixels, int channels, float *out) {
  for (int c = 0; c < channels; c += 4) {
    f4 s = ZERO;
    for (int p = 0; p < pixels; p++) s = ADD(s, LD(z + p * channels + c));
    ST(out + c, s);
  }
}

static void centered_squares(const float *z, int pixels, int channels, const float *mean, float *out) {
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
static void bn_relu_pool(const float *z, int h, int ch, const float *mean, const float *scale, const float *shift, float *out, int out_row, int32_t *route) {
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

static void dense_forward(int b0, int b1) {
  for (int b = b0; b < b1; b++) {
    const float *f = flat + b * FEATURES;
    for (int k = 0; k < CLASSES; k++) {
      const float *w = wdt + k * FEATURES;
      f4 s0 = ZERO, s1 = ZERO;
      for (int i = 0; i < FEATURES; i += 8) s0 = MADD(LD(f + i), LD(w + i), s0), s1 = MADD(LD(f + i + 4), LD(w + i + 4), s1);
      const f4 s = ADD(s0, s1);
      logits[b * 4 + k] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) + (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3)) +
                          params[O_DB + k];
    }
  }
}

static void transpose_dense(void) {
  for (int f = 0; f < FEATURES; f++)
    for (int k = 0; k < CLASSES; k++) wdt[k * FEATURES + f] = params[O_DK + f * CLASSES + k];
}

/*
 * Evaluation-mode forward (running statistics) of `batch` images at
 * cnn_input(): logits at cnn_logits() (stride 4).
 */
EXPORT void cnn_infer(int batch, float epsilon) {
  float mean[C2], scale[C2], shift[C2];
  transpose_dense();
  for (int c = 0; c < C1; c++) {
    mean[c] = running[c];
    scale[c] = params[O_G1 + c] * (float)(1.0 / __builtin_sqrt((double)(running[C1 + c] + epsilon)));
    shift[c] = params[O_B1 + c];
  }
  for (int b = 0; b < batch; b++) {
    pad_input(b);
    conv1_forward(b);
    bn_relu_pool(z1 + b * H1 * H1 * C1, H1, C1, mean, scale, shift, p1pad + b * PP * PP * C1 + (PP + 1) * C1, PP * C1, route1 + b * H2 * H2 * C1);
  }
  for (int c = 0; c < C2; c++) {
    mean[c] = running[2 * C1 + c];
    scale[c] = params[O_G2 + c] * (float)(1.0 / __builtin_sqrt((double)(running[2 * C1 + C2 + c] + epsilon)));
    shift[c] = params[O_B2 + c];
  }
  for (int b = 0; b < batch; b++) {
    float *z = z2 + b * H2 * H2 * C2;
    conv14(p1pad + b * PP * PP * C1, params + O_C2K, params + O_C2B, z, C1, C2);
    bn_relu_pool(z, H2, C2, mean, scale, shift, flat + b * FEATURES, H3 * C2, route2 + b * FEATURES);
  }
  dense_forward(0, batch);
}

/* ---- backward --------------------------------------------------------------------------------- */

/*
 * Σ g and Σ g·(z − μ) over one image's routed positions: the pooled gradient
 * `dpool` [h/2][h/2][ch] goes to its window's first maximum (route 0..3) or
 * nowhere (4).
 */
static void routed_sums(const float *z, const float *dpool, const int32_t *route, int h, int ch, const float *mean, float *gs, float *gcs) {
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
  double sg[C2], sgc[C2];
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
static inline __attribute__((always_inline)) f4 dz_at(const float *zq, f4 g, v128_t r, int position, f4 m, f4 a, f4 k, f4 off) {
  const f4 gr = wasm_v128_and(g, wasm_i32x4_eq(r, wasm_i32x4_splat(position)));
  return MADD(a, gr, MADD(k, SUB(LD(zq), m), off));
}

/* The second block's dz of image b into the padded grid dz2pad, and its bias gradient. */
static void dz2_image(int b, float *dbias) {
  const float *z = z2 + b * H2 * H2 * C2;
  const float *dpool = dflat + b * FEATURES;
  const int32_t *route = route2 + b * FEATURES;
  float *out = dz2pad + b * PP * PP * C2 + (PP + 1) * C2;
  for (int c = 0; c < C2; c += 4) {
    const f4 m = LD(mean2 + c), a = LD(bn_a2 + c), k = LD(bn_k2 + c), off = LD(bn_off2 + c);
    f4 s = LD(dbias + c);
    for (int i = 0; i < H3; i++) {
      for (int j = 0; j < H3; j++) {
        const int at = (i * H3 + j) * C2 + c;
        const v128_t r = LD(route + at);
        const f4 g = LD(dpool + at);
        const float *q = z + ((2 * i) * H2 + 2 * j) * C2 + c;
        float *o = out + ((2 * i) * PP + 2 * j) * C2 + c;
        const f4 d0 = dz_at(q, g, r, 0, m, a, k, off), d1 = dz_at(q + C2, g, r, 1, m, a, k, off);
        const f4 d2 = dz_at(q + H2 * C2, g, r, 2, m, a, k, off), d3 = dz_at(q + H2 * C2 + C2, g, r, 3, m, a, k, off);
        ST(o, d0), ST(o + C2, d1), ST(o + PP * C2, d2), ST(o + PP * C2 + C2, d3);
        s = ADD(s, ADD(ADD(d0, d1), ADD(d2, d3)));
      }
    }
    ST(dbias + c, s);
  }
}

/*
 * dW2[a][bb][c][o] += Σ_{i,j} p1pad[i + a][j + bb][c]·dz2[i][j][o] for one image:
 * per tap row a, the 48 numbers (bb, c) at a pixel are contiguous. Tiles of
 * four such rows × eight output channels (eight accumulators).
 */
static void conv2_filter_gradient(int b, float *dw) {
  const float *in = p1pad + b * PP * PP * C1;
  const float *dz = dz2pad + b * PP * PP * C2 + (PP + 1) * C2;
  for (int a = 0; a < 3; a++) {
    for (int m = 0; m < 3 * C1; m += 4) {
      for (int h = 0; h < C2; h += 8) {
        float *d = dw + (a * 3 * C1 + m) * C2 + h;
        f4 acc[4][2];
        for (int r = 0; r < 4; r++)
          for (int v = 0; v < 2; v++) acc[r][v] = LD(d + r * C2 + 4 * v);
        for (int i = 0; i < H2; i++) {
          const float *xr = in + (i + a) * PP * C1 + m;
          const float *dr = dz + i * PP * C2 + h;
          for (int j = 0; j < H2; j++) {
            const f4 g0 = LD(dr + j * C2), g1 = LD(dr + j * C2 + 4);
            for (int r = 0; r < 4; r++) {
              const f4 u = BCAST(xr + j * C1 + r);
              acc[r][0] = MADD(u, g0, acc[r][0]);
              acc[r][1] = MADD(u, g1, acc[r][1]);
            }
          }
        }
        for (int r = 0; r < 4; r++)
          for (int v = 0; v < 2; v++) ST(d + r * C2 + 4 * v, acc[r][v]);
      }
    }
  }
}

/* The first block's gradient of image b: dz row by row, then the filter and bias gradients. */
static void conv1_gradient(int b, float *dw, float *dbias) {
  const float *x = xpad + b * XP * XP;
  const float *z = z1 + b * H1 * H1 * C1;
  const float *dpool = dp1 + b * H2 * H2 * C1;
  const int32_t *route = route1 + b * H2 * H2 * C1;
  f4 s[4], acc[3][2];
  for (int v = 0; v < 4; v++) s[v] = LD(dbias + 4 * v);
  for (int i = 0; i < H1; i++) {
    for (int j = 0; j < H1; j++) {
      const int position = (i & 1) * 2 + (j & 1);
      const int at = ((i / 2) * H2 + j / 2) * C1;
      for (int v = 0; v < 4; v++) {
        const int c = 4 * v;
        const f4 d = dz_at(z + (i * H1 + j) * C1 + c, LD(dpool + at + c), LD(route + at + c), position, LD(mean1 + c), LD(bn_a1 + c), LD(bn_k1 + c),
                           LD(bn_off1 + c));
        ST(dz1_row + j * C1 + c, d);
        s[v] = ADD(s[v], d);
      }
    }
    for (int a = 0; a < 3; a++) {
      for (int h = 0; h < C1; h += 8) {
        float *d = dw + a * 3 * C1 + h;
        for (int r = 0; r < 3; r++)
          for (int v = 0; v < 2; v++) acc[r][v] = LD(d + r * C1 + 4 * v);
        const float *xr = x + (i + a) * XP;
        for (int j = 0; j < H1; j++) {
          const f4 g0 = LD(dz1_row + j * C1 + h), g1 = LD(dz1_row + j * C1 + h + 4);
          for (int r = 0; r < 3; r++) {
            const f4 u = BCAST(xr + j + r);
            acc[r][0] = MADD(u, g0, acc[r][0]);
            acc[r][1] = MADD(u, g1, acc[r][1]);
          }
        }
        for (int r = 0; r < 3; r++)
          for (int v = 0; v < 2; v++) ST(d + r * C1 + 4 * v, acc[r][v]);
      }
    }
  }
  for (int v = 0; v < 4; v++) ST(dbias + 4 * v, s[v]);
}

/* Which half of the batch image b belongs to: its weight gradients are summed there. */
static int half_of(int b, int batch) { return b < (batch + 1) / 2 ? 0 : 1; }

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
 *   4  batch norm 2, ReLU, pool, dense       → logits (host: dlogits)
 *   5  dense backward, routed sums 2         → gsum2, gcsum2
 *   6  block 2 backward, conv2 gradients     → gsum1, gcsum1
 *   7  block 1 backward, conv1 gradients, the half's dense gradient
 */
static double bn_mean1[C1], bn_mean2[C2];
static float scale1[C1], shift1[C1], scale2[C2], shift2[C2];

static void phase_forward(int phase, int b0, int b1, int batch, float epsilon) {
  const double n1 = (double)batch * H1 * H1, n2 = (double)batch * H2 * H2;
  double var[C2];
  switch (phase) {
    case 0:
      transpose_dense();
      for (int b = b0; b < b1; b++) {
        pad_input(b);
        conv1_forward(b);
      }
      break;
    case 1:
      combine(sum1, batch, C1, n1, bn_mean1);
      for (int c = 0; c < C1; c++) mean1[c] = (float)bn_mean1[c];
      for (int b = b0; b < b1; b++) centered_squares(z1 + b * H1 * H1 * C1, H1 * H1, C1, mean1, sq1 + b * C1);
      break;
    case 2:
      combine(sq1, batch, C1, n1, var);
      bn_scale(bn_mean1, var, params + O_G1, params + O_B1, C1, epsilon, mean1, inv1, scale1, shift1, batch_stats);
      for (int b = b0; b < b1; b++) {
        bn_relu_pool(z1 + b * H1 * H1 * C1, H1, C1, mean1, scale1, shift1, p1pad + b * PP * PP * C1 + (PP + 1) * C1, PP * C1, route1 + b * H2 * H2 * C1);
        float *z = z2 + b * H2 * H2 * C2;
        conv14(p1pad + b * PP * PP * C1, params + O_C2K, params + O_C2B, z, C1, C2);
        channel_sums(z, H2 * H2, C2, sum2 + b * C2);
      }
      break;
    case 3:
      combine(sum2, batch, C2, n2, bn_mean2);
      for (int c = 0; c < C2; c++) mean2[c] = (float)bn_mean2[c];
      for (int b = b0; b < b1; b++) centered_squares(z2 + b * H2 * H2 * C2, H2 * H2, C2, mean2, sq2 + b * C2);
      break;
    case 4:
      combine(sq2, batch, C2, n2, var);
      bn_scale(bn_mean2, var, params + O_G2, params + O_B2, C2, epsilon, mean2, inv2, scale2, shift2, batch_stats + 2 * C1);
      for (int b = b0; b < b1; b++) bn_relu_pool(z2 + b * H2 * H2 * C2, H2, C2, mean2, scale2, shift2, flat + b * FEATURES, H3 * C2, route2 + b * FEATURES);
      dense_forward(b0, b1);
      break;
  }
}

static void phase_backward(int phase, int b0, int b1, int batch) {
  switch (phase) {
    case 5:
      zero(half_grads[0], N_PADDED);
      zero(half_grads[1], N_PADDED);
      zero(dwdt[0], CLASSES * FEATURES);
      zero(dwdt[1], CLASSES * FEATURES);
      for (int i = 0; i < 3; i++)
        for (int bb = 0; bb < 3; bb++)
          for (int c = 0; c < C1; c++)
            for (int o = 0; o < C2; o++) w2t[((i * 3 + bb) * C2 + o) * C1 + c] = params[O_C2K + (((2 - i) * 3 + (2 - bb)) * C1 + c) * C2 + o];
      /* Dense: dflat = dlogits·Wᵀ, dW = flatᵀ·dlogits, db = Σ dlogits. */
      for (int b = b0; b < b1; b++) {
        const float *f = flat + b * FEATURES;
        float *df = dflat + b * FEATURES;
        float *dw = dwdt[half_of(b, batch)];
        float *g = half_grads[half_of(b, batch)];
        const f4 d0 = SPLAT(dlogits[b * 4]), d1 = SPLAT(dlogits[b * 4 + 1]), d2 = SPLAT(dlogits[b * 4 + 2]);
        for (int i = 0; i < FEATURES; i += 4) {
          const f4 x = LD(f + i);
          ST(df + i, MADD(d2, LD(wdt + 2 * FEATURES + i), MADD(d1, LD(wdt + FEATURES + i), MUL(d0, LD(wdt + i)))));
          ST(dw + i, MADD(d0, x, LD(dw + i)));
          ST(dw + FEATURES + i, MADD(d1, x, LD(dw + FEATURES + i)));
          ST(dw + 2 * FEATURES + i, MADD(d2, x, LD(dw + 2 * FEATURES + i)));
        }
        for (int k = 0; k < CLASSES; k++) g[O_DB + k] += dlogits[b * 4 + k];
      }
      for (int b = b0; b < b1; b++)
        routed_sums(z2 + b * H2 * H2 * C2, dflat + b * FEATURES, route2 + b * FEATURES, H2, C2, mean2, gsum2 + b * C2, gcsum2 + b * C2);
      break;
    case 6: {
      float dgamma[C2], dbeta[C2];
      bn_backward_coefficients(gsum2, gcsum2, batch, C2, (double)batch * H2 * H2, params + O_G2, inv2, bn_a2, bn_k2, bn_off2, dgamma, dbeta);
      for (int c = 0; c < C2; c++) grads[O_G2 + c] = dgamma[c], grads[O_B2 + c] = dbeta[c];
      for (int b = b0; b < b1; b++) {
        float *g = half_grads[half_of(b, batch)];
        dz2_image(b, g + O_C2B);
        conv2_filter_gradient(b, g + O_C2K);
        conv14(dz2pad + b * PP * PP * C2, w2t, 0, dp1 + b * H2 * H2 * C1, C2, C1);
        routed_sums(z1 + b * H1 * H1 * C1, dp1 + b * H2 * H2 * C1, route1 + b * H2 * H2 * C1, H1, C1, mean1, gsum1 + b * C1, gcsum1 + b * C1);
      }
      break;
    }
    case 7: {
      float dgamma[C1], dbeta[C1];
      bn_backward_coefficients(gsum1, gcsum1, batch, C1, (double)batch * H1 * H1, params + O_G1, inv1, bn_a1, bn_k1, bn_off1, dgamma, dbeta);
      for (int c = 0; c < C1; c++) grads[O_G1 + c] = dgamma[c], grads[O_B1 + c] = dbeta[c];
      for (int b = b0; b < b1; b++) {
        float *g = half_grads[half_of(b, batch)];
        conv1_gradient(b, g + O_C1K, g + O_C1B);
      }
      for (int h = 0; h < 2; h++) {
        if (b1 <= b0 || half_of(b0, batch) > h || half_of(b1 - 1, batch) < h) continue;
        for (int f = 0; f < FEATURES; f++)
          for (int k = 0; k < CLASSES; k++) half_grads[h][O_DK + f * CLASSES + k] = dwdt[h][k * FEATURES + f];
      }
      break;
    }
  }
}

/* One phase of the step over images [b0, b1) (see above). */
EXPORT void cnn_phase(int phase, int b0, int b1, int batch, float epsilon) {
  if (phase < 5) phase_forward(phase, b0, b1, batch, epsilon);
  else phase_backward(phase, b0, b1, batch);
}

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
    if (i >= O_G2 && i < O_DK) continue;
    grads[i] = half_grads[0][i] + half_grads[1][i];
  }
}

/*
 * Training-mode forward of `batch` images at cnn_input(): logits at
 * cnn_logits() (stride 4) and the batch statistics at cnn_batch_stats().
 */
EXPORT void cnn_forward(int batch, float epsilon) {
  for (int phase = 0; phase < 5; phase++) phase_forward(phase, 0, batch, batch, epsilon);
}

/*
 * Backward of the last cnn_forward, given dL/dlogits at cnn_dlogits() (stride
 * 4): the gradients of every parameter at cnn_grads(), in the layout of
 * cnn_params().
 */
EXPORT void cnn_backward(int batch) {
  for (int phase = 5; phase < 8; phase++) phase_backward(phase, 0, batch, batch);
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
