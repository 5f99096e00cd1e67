/* One training step of a stacked group on a CPU, fused: forward, hand-written backward and
 * Adamax in one call, with the layout of stacked.py (see there). Matrix products go to the
 * BLAS sgemm that PyTorch itself uses (its address is handed in); the element-wise work is
 * plain loops the compiler vectorises, with exp and log written as polynomials so that they
 * vectorise too (within a few float ulps of libm). Single-threaded: the engine runs one
 * group per core. Built and loaded by fused.py. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_fn)(const char *ta, const char *tb, const int *m, const int *n, const int *k,
                         const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
                         const float *beta, float *c, const int *ldc);

enum { RELU, SIGMOID, TANH, SOFTPLUS, ELU };
enum { POOL_ID, POOL_MAX, POOL_AVG };

typedef struct {
    int P, F, S, kk, Kc, L, NC, pool, Bmax;
    const int32_t *act;                   /* each candidate's activation */
    float *conv, *w1, *b1, *w2, *b2;      /* parameters: views of one flat tensor */
    float *gconv, *gw1, *gb1, *gw2, *gb2; /* their gradients: views of another */
    const float *conv_mask, *w2_mask;     /* NULL where nothing is padded */
    float *flat, *grad, *m, *u;           /* Adamax over the whole flat tensor */
    int64_t size;
    /* workspace: y, aux hold P*kk*Bmax*S*F floats; h P*Bmax*S*F; dh Bmax*S*F; dy kk*Bmax*S*F;
     * z1, dz1, a1 P*Bmax*L; lp P*Bmax*NC; arg P*Bmax*S*F bytes; A kk*Bmax*S*Kc (for batches
     * cut from a larger array) */
    float *A, *y, *aux, *h, *dh, *dy, *z1, *a1, *dz1, *lp;
    uint8_t *arg;
    double *loss, *wrong; /* per candidate, summed over the steps since the caller reset them */
    uint8_t *alive;       /* per candidate; a candidate whose loss is not finite is cleared */
    float *last_nll;      /* per candidate, the last step's summed NLL */
    sgemm_fn sgemm;
} Group;

/* Row-major C (M x N) = op(A) (M x K) . op(B) (K x N) + beta C, through column-major sgemm. */
static void mm(const Group *g, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    const float one = 1.0f;
    const char ca = ta ? 'T' : 'N', cb = tb ? 'T' : 'N';
    g->sgemm(&cb, &ca, &N, &M, &K, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* Row-major C (M x N) = A^T (A is K x M) . B (K x N) + 0, for the weight gradients, whose K (the
 * batch's rows) is large. With few columns (N < 16) MKL's sgemm runs this shape at a tenth of
 * its speed or less, while the transposed product B^T A is fast: then T = B^T A (N x M) is made
 * in a scratch buffer and C is its transpose (the same sums, blocked otherwise). */
static float *scratch;
static int64_t scratch_size;

static void mm_tn(const Group *g, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                  int ldc) {
    if (N >= 16) {
        mm(g, 1, 0, M, N, K, A, lda, B, ldb, 0.0f, C, ldc);
        return;
    }
    const int64_t need = (int64_t)M * N;
    if (need > scratch_size) {
        float *grown = realloc(scratch, (size_t)need * sizeof(float));
        if (grown == NULL) { /* keep to the slow, allocation-free way */
            mm(g, 1, 0, M, N, K, A, lda, B, ldb, 0.0f, C, ldc);
            return;
        }
        scratch = grown;
        scratch_size = need;
    }
    mm(g, 1, 0, N, M, K, B, ldb, A, lda, 0.0f, scratch, M);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] = scratch[(int64_t)j * M + i];
}

static inline float bits2f(int32_t i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

static inline int32_t f2bits(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i;
}

/* exp(x), Cephes' polynomial: infinite above 88.72 (as libm), zero below -87.3 (where libm
 * gives subnormals), a NaN stays NaN. A NaN is computed as 0 and put back at the end, so that
 * the power of two is built from an integer in 1..254 (converting NaN to int, or shifting a
 * negative int, is undefined behaviour). */
static inline float vexp(float x0) {
    float x = x0 > 88.0f ? 88.0f : x0;
    x = x < -87.3f ? -87.3f : x;
    x = x == x ? x : 0.0f;
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
    x = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float z = x * x;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    y = y * bits2f(((int32_t)fx + 127) << 23);
    y = x0 > 88.7228391f ? INFINITY : y;
    y = x0 == x0 ? y : x0;
    return x0 < -87.3f ? 0.0f : y;
}

/* log(x) for x >= 1 (finite), Cephes' polynomial. */
static inline float vlog_ge1(float x) {
    int32_t b = f2bits(x);
    float e = (float)((b >> 23) - 126);
    x = bits2f((b & 0x007fffff) | 0x3f000000); /* mantissa in [0.5, 1) */
    int small = x < 0.707106781186547524f;
    e = small ? e - 1.0f : e;
    x = small ? x + x - 1.0f : x - 1.0f;
    float z = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y += e * -2.12194440e-4f;
    y += -0.5f * z;
    x = x + y;
    return x + e * 0.693359375f;
}

static void act_fwd(int code, const float *restrict z, float *restrict a, int n) {
    switch (code) {
    case RELU:
        for (int i = 0; i < n; i++) a[i] = z[i] > 0.0f ? z[i] : (z[i] != z[i] ? z[i] : 0.0f);
        break;
    case SIGMOID:
        for (int i = 0; i < n; i++) a[i] = 1.0f / (1.0f + vexp(-z[i]));
        break;
    case TANH:
        for (int i = 0; i < n; i++) {
            float e = vexp(-2.0f * fabsf(z[i])); /* in (0, 1] */
            float t = (1.0f - e) / (1.0f + e);
            a[i] = z[i] < 0.0f ? -t : t;
        }
        break;
    case SOFTPLUS: /* log(1 + exp(z)), or z above 20, as PyTorch's (beta 1, threshold 20) */
        for (int i = 0; i < n; i++) {
            float s = vlog_ge1(1.0f + vexp(z[i] > 20.0f ? 20.0f : z[i]));
            a[i] = z[i] > 20.0f ? z[i] : s;
        }
        break;
    case ELU:
        for (int i = 0; i < n; i++) a[i] = z[i] > 0.0f ? z[i] : vexp(z[i]) - 1.0f;
        break;
    }
}

/* out = (g * scale) * f'(z), given a = f(z); out may alias g. */
static void act_bwd(int code, const float *g, float scale, const float *restrict z, const float *restrict a,
                    float *out, int n) {
    switch (code) {
    case RELU:
        for (int i = 0; i < n; i++) out[i] = a[i] > 0.0f ? g[i] * scale : 0.0f;
        break;
    case SIGMOID:
        for (int i = 0; i < n; i++) out[i] = g[i] * scale * ((1.0f - a[i]) * a[i]);
        break;
    case TANH:
        for (int i = 0; i < n; i++) out[i] = (1.0f - a[i] * a[i]) * (g[i] * scale);
        break;
    case SOFTPLUS:
        for (int i = 0; i < n; i++) out[i] = g[i] * scale / (1.0f + vexp(-z[i]));
        break;
    case ELU:
        for (int i = 0; i < n; i++) out[i] = (a[i] > 0.0f ? 1.0f : a[i] + 1.0f) * (g[i] * scale);
        break;
    }
}

/* Each of `rows` rows of dst (rows x cols) set to row. */
static void fill_rows(float *dst, const float *row, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) dst[(int64_t)r * cols + j] = row[j];
}

/* out (cols) = the column sums of m (rows x cols). */
static void col_sums(const float *m, int rows, int cols, float *out) {
    for (int j = 0; j < cols; j++) out[j] = 0.0f;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) out[j] += m[(int64_t)r * cols + j];
}

static void zero_candidate(const Group *g, int p, float *conv, float *w1, float *b1, float *w2, float *b2) {
    const int F = g->F, PF = g->P * F, SFL = g->S * F * g->L;
    for (int r = 0; r < g->Kc; r++) memset(conv + (int64_t)r * PF + p * F, 0, F * 4);
    memset(w1 + (int64_t)p * SFL, 0, (size_t)SFL * 4);
    memset(b1 + (int64_t)p * g->L, 0, g->L * 4);
    memset(w2 + (int64_t)p * g->L * g->NC, 0, (size_t)g->L * g->NC * 4);
    memset(b2 + (int64_t)p * g->NC, 0, g->NC * 4);
}

/* Forward pass of B images into g->lp (log-probabilities, P x B x NC), keeping what the
 * backward pass needs; the patches are cols laid out kk x n_img x S x Kc, the batch's images
 * at cidx (or the first B if NULL). Each candidate's convolution output is laid out
 * kk x B*S x F, so that pooling, the activation and Linear 1 read it without reordering.
 * Returns the batch's patches, kk*B*S x Kc. */
static const float *forward(Group *g, const float *cols, int n_img, const int64_t *cidx, int B) {
    const int P = g->P, F = g->F, S = g->S, kk = g->kk, Kc = g->Kc, L = g->L, NC = g->NC;
    const int PF = P * F, R = B * S, SF = S * F;
    const int64_t win = (int64_t)R * F;
    const float *A = cols;
    if (cidx != NULL || n_img != B) {
        for (int k = 0; k < kk; k++)
            for (int b = 0; b < B; b++) {
                int64_t img = cidx ? cidx[b] : b;
                memcpy(g->A + ((int64_t)k * B + b) * S * Kc, cols + ((int64_t)k * n_img + img) * S * Kc,
                       (size_t)S * Kc * 4);
            }
        A = g->A;
    }
    for (int p = 0; p < P; p++) {
        const int act = g->act[p];
        float *y = g->y + p * kk * win, *h = g->h + p * win, *aux = g->aux + p * kk * win;
        mm(g, 0, 0, kk * R, F, Kc, A, Kc, g->conv + p * F, PF, 0.0f, y, F);
        if (g->pool == POOL_ID) {
            act_fwd(act, y, h, win);
        } else if (g->pool == POOL_MAX) { /* running maximum; the first maximum wins, as in PyTorch */
            uint8_t *arg = g->arg + p * win;
            memcpy(aux, y, win * 4);
            memset(arg, 0, win);
            for (int k = 1; k < kk; k++) {
                const float *yk = y + k * win;
                for (int64_t i = 0; i < win; i++) {
                    float v = yk[i], cur = aux[i];
                    int gt = v > cur;
                    arg[i] = gt ? (uint8_t)k : arg[i];
                    cur = gt ? v : cur;
                    aux[i] = v != v ? v : cur;
                }
            }
            act_fwd(act, aux, h, win);
        } else {
            act_fwd(act, y, aux, kk * win);
            memcpy(h, aux, win * 4);
            for (int k = 1; k < kk; k++) {
                const float *ak = aux + k * win;
                for (int64_t i = 0; i < win; i++) h[i] += ak[i];
            }
            const float n = (float)kk;
            for (int64_t i = 0; i < win; i++) h[i] /= n;
        }
        float *z1 = g->z1 + (int64_t)p * B * L, *a1 = g->a1 + (int64_t)p * B * L;
        const float *b1 = g->b1 + (int64_t)p * L, *b2 = g->b2 + (int64_t)p * NC;
        fill_rows(z1, b1, B, L);
        mm(g, 0, 0, B, L, SF, h, SF, g->w1 + (int64_t)p * SF * L, L, 1.0f, z1, L);
        act_fwd(act, z1, a1, B * L);
        float *lp = g->lp + (int64_t)p * B * NC;
        fill_rows(lp, b2, B, NC);
        mm(g, 0, 0, B, NC, L, a1, L, g->w2 + (int64_t)p * L * NC, NC, 1.0f, lp, NC);
        for (int b = 0; b < B; b++) { /* log-softmax */
            float *row = lp + (int64_t)b * NC, mx = row[0];
            for (int j = 1; j < NC; j++) mx = row[j] > mx || row[j] != row[j] ? row[j] : mx;
            float sum = 0.0f;
            for (int j = 0; j < NC; j++) sum += expf(row[j] - mx);
            float ls = logf(sum);
            for (int j = 0; j < NC; j++) row[j] = (row[j] - mx) - ls;
        }
    }
    return A;
}

/* One step on B images with labels y[lidx[b]] (y[b] if lidx is NULL): the gradient of the
 * summed NLL, then Adamax (PyTorch's update; clr = lr / (1 - beta1^t)). Adds each living
 * candidate's NLL to g->loss and its wrong predictions to g->wrong. Returns how many
 * candidates died in this step (loss not finite): they, and any dead before, get zero
 * gradients and are zeroed after the update, as the PyTorch engine does. */
int nas_step(Group *g, const float *cols, int n_img, const int64_t *cidx, const int64_t *y, const int64_t *lidx,
             int B, float clr, float wd, float beta1, float beta2, float eps) {
    const int P = g->P, F = g->F, S = g->S, kk = g->kk, Kc = g->Kc, L = g->L, NC = g->NC;
    const int PF = P * F, R = B * S, SF = S * F;
    const int64_t win = (int64_t)R * F;
    const float *A = forward(g, cols, n_img, cidx, B);
    int died = 0;
    for (int p = 0; p < P; p++) {
        float *lp = g->lp + (int64_t)p * B * NC;
        float nll = 0.0f;
        int wrong = 0;
        for (int b = 0; b < B; b++) {
            const float *row = lp + (int64_t)b * NC;
            int label = (int)(lidx ? y[lidx[b]] : y[b]), best = 0;
            for (int j = 1; j < NC; j++)
                if (row[j] > row[best] || (row[j] != row[j] && row[best] == row[best])) best = j;
            wrong += best != label;
            nll -= row[label];
        }
        g->wrong[p] += wrong;
        g->last_nll[p] = nll;
        if (g->alive[p] && !isfinite(nll)) {
            g->alive[p] = 0;
            died++;
        }
        if (g->alive[p]) g->loss[p] += nll;
        for (int b = 0; b < B; b++) { /* d NLL / d logits = softmax - onehot */
            float *row = lp + (int64_t)b * NC;
            int label = (int)(lidx ? y[lidx[b]] : y[b]);
            for (int j = 0; j < NC; j++) row[j] = expf(row[j]);
            row[label] -= 1.0f;
        }
    }
    for (int p = 0; p < P; p++) {
        const int act = g->act[p];
        const float *d = g->lp + (int64_t)p * B * NC, *a1 = g->a1 + (int64_t)p * B * L;
        float *dz1 = g->dz1 + (int64_t)p * B * L, *h = g->h + p * win, *dh = g->dh;
        mm(g, 1, 0, L, NC, B, a1, L, d, NC, 0.0f, g->gw2 + (int64_t)p * L * NC, NC);
        col_sums(d, B, NC, g->gb2 + (int64_t)p * NC);
        mm(g, 0, 1, B, L, NC, d, NC, g->w2 + (int64_t)p * L * NC, NC, 0.0f, dz1, L);
        act_bwd(act, dz1, 1.0f, g->z1 + (int64_t)p * B * L, a1, dz1, B * L);
        mm_tn(g, SF, L, B, h, SF, dz1, L, g->gw1 + (int64_t)p * SF * L, L);
        col_sums(dz1, B, L, g->gb1 + (int64_t)p * L);
        mm(g, 0, 1, B, SF, L, dz1, L, g->w1 + (int64_t)p * SF * L, L, 0.0f, dh, SF);
        const float *y = g->y + p * kk * win, *aux = g->aux + p * kk * win;
        float *dy = g->dy;
        if (g->pool == POOL_ID) {
            act_bwd(act, dh, 1.0f, y, h, dy, win);
        } else if (g->pool == POOL_MAX) { /* the gradient goes to each window's first maximum */
            const uint8_t *arg = g->arg + p * win;
            act_bwd(act, dh, 1.0f, aux, h, dh, win);
            for (int k = 0; k < kk; k++) {
                float *dyk = dy + k * win;
                for (int64_t i = 0; i < win; i++) dyk[i] = arg[i] == k ? dh[i] : 0.0f;
            }
        } else {
            for (int k = 0; k < kk; k++) act_bwd(act, dh, 1.0f / kk, y + k * win, aux + k * win, dy + k * win, win);
        }
        mm_tn(g, Kc, F, kk * R, A, Kc, dy, F, g->gconv + p * F, PF);
    }
    if (g->conv_mask)
        for (int64_t i = 0; i < (int64_t)Kc * PF; i++) g->gconv[i] *= g->conv_mask[i];
    if (g->w2_mask)
        for (int64_t i = 0; i < (int64_t)P * L * NC; i++) g->gw2[i] *= g->w2_mask[i];
    for (int p = 0; p < P; p++)
        if (!g->alive[p]) zero_candidate(g, p, g->gconv, g->gw1, g->gb1, g->gw2, g->gb2);
    float *restrict w = g->flat, *restrict gr = g->grad, *restrict m = g->m, *restrict u = g->u;
    const float c1 = 1.0f - beta1;
    for (int64_t i = 0; i < g->size; i++) {
        float gi = gr[i] + wd * w[i];
        float mi = m[i] + c1 * (gi - m[i]);
        float ui = u[i] * beta2, ai = fabsf(gi) + eps;
        ui = ai > ui || ai != ai ? ai : ui;
        m[i] = mi;
        u[i] = ui;
        w[i] += -clr * mi / ui; /* in PyTorch's order ((-clr * m) / u), which overflows where it does */
    }
    for (int p = 0; p < P; p++)
        if (!g->alive[p]) zero_candidate(g, p, g->conv, g->w1, g->b1, g->w2, g->b2);
    return died;
}
