/*
 * CPU kernel of the high error margin (HEM) loss (Spratling & Schütt 2025, arXiv:2501.12191),
 * as defined in the authors' released code (multi-class margin error, "meanAboveAvg"
 * reduction), float32 only.
 *
 * For one example (pixel) with logits y, target t and margin mu_t:
 *   e_j = max(0, y_j - y_t + mu_t) for j != t,  e_t = 0,
 *   theta = (1/C) sum_j e_j            (every class counts, the target's 0 included),
 *   K = {j : e_j >= theta, e_j > 0},   loss = sum_{j in K} e_j / (EPS + |K|)
 * (0 when every margin is met). The mean over a batch divides the sum of the losses by
 * EPS + the number of examples whose loss is positive. theta, |K| and that count are
 * constants for the gradient, which is, times scale = 1 / (EPS + count) for a mean:
 *   d loss / d y_j = 1 / (EPS + |K|) on K,  -|K| / (EPS + |K|) on the target, 0 elsewhere.
 * A NaN logit, or an infinite one that makes an error infinite or the target logit
 * infinite, gives a NaN loss (and gradient), so that training stops instead of reading 0.
 *
 * Two phases, each split across threads by examples. Phase 1 reads the logits and writes
 * each example's loss, threshold and weights to a scratch buffer, and counts the examples
 * with positive loss; phase 2 reads the logits again and writes the gradient with the
 * final scale. Logits are laid out (N, C, P): P = 1 for (N, C) inputs, P = d1*d2*... for
 * dense ones. Rows (P = 1) are processed one by one; dense inputs in tiles of TILE pixels
 * so that every loop over pixels is contiguous and vectorises. hem.py holds the same
 * computation in PyTorch operations (float64, GPUs, no compiler); the tests check both
 * against a per-example loop written from the definition.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define TILE 64
#define MAX_THREADS 64
#define EPS 1e-6f

/* Vector code for the widest instruction set the CPU has, chosen when the module loads. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define HEM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HEM_CLONES
#endif

typedef struct {
    const float *x;
    const int64_t *target;
    const double *class_margins; /* NULL: one margin for all classes */
    double margin;
    int64_t ignore_index; /* examples with this target get loss 0 and gradient 0 */
    float scale;          /* phase 2: the gradient is scaled by this */
    float *loss;
    float *grad;
    float *scratch; /* 3 floats per example: threshold, 1/(EPS+|K|), |K|/(EPS+|K|) */
    int64_t n_begin, n_end, C, P;
    int64_t positive; /* phase 1: examples of this share with a positive loss */
    int phase;
} hem_job;

/* Phase 1, (N, C) logits: one row at a time. */
HEM_CLONES static void rows_phase1(hem_job *job)
{
    const int32_t C = (int32_t)job->C;
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict row = job->x + n * C;
        float *sc = job->scratch + 3 * n;
        if (job->target[n] == job->ignore_index) {
            job->loss[n] = 0.f;
            sc[0] = INFINITY; sc[1] = 0.f; sc[2] = 0.f;
            continue;
        }
        const int32_t tt = (int32_t)job->target[n];
        const float mu = (float)(job->class_margins ? job->class_margins[tt] : job->margin);
        const float shift = row[tt] - mu;
        float s = 0.f, nanc = 0.f;
#pragma omp simd reduction(+ : s, nanc)
        for (int32_t j = 0; j < C; j++) {
            const float e = row[j] - shift;
            s += (e > 0.f && j != tt) ? e : 0.f;
            nanc += e != e ? 1.f : 0.f;
        }
        if (!isfinite(shift) || !isfinite(s) || nanc > 0.f) {
            job->loss[n] = NAN;
            sc[0] = -INFINITY; sc[1] = NAN; sc[2] = NAN;
            continue;
        }
        if (s == 0.f) {
            job->loss[n] = 0.f;
            sc[0] = INFINITY; sc[1] = 0.f; sc[2] = 0.f;
            continue;
        }
        const float thr = s / (float)C; /* > 0, and below the largest error */
        float sh = 0.f, nh = 0.f;
#pragma omp simd reduction(+ : sh, nh)
        for (int32_t j = 0; j < C; j++) {
            const float e = row[j] - shift;
            const float h = (e >= thr && j != tt) ? 1.f : 0.f;
            sh += h > 0.f ? e : 0.f;
            nh += h;
        }
        const float inv = 1.f / (EPS + nh);
        job->loss[n] = sh * inv;
        job->positive += sh * inv > 0.f;
        sc[0] = thr; sc[1] = inv; sc[2] = nh * inv;
    }
}

/* Phase 2, (N, C) logits: the gradient, from the statistics of phase 1. */
HEM_CLONES static void rows_phase2(const hem_job *job)
{
    const int32_t C = (int32_t)job->C;
    const float scale = job->scale;
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict row = job->x + n * C;
        float *restrict g = job->grad + n * C;
        const float *sc = job->scratch + 3 * n;
        if (sc[1] == 0.f) { /* ignored, or every margin met */
            memset(g, 0, (size_t)C * sizeof(float));
            continue;
        }
        const int32_t tt = (int32_t)job->target[n];
        const float mu = (float)(job->class_margins ? job->class_margins[tt] : job->margin);
        const float shift = row[tt] - mu;
        const float thr = sc[0], w = scale * sc[1];
#pragma omp simd
        for (int32_t j = 0; j < C; j++) {
            const float e = row[j] - shift;
            g[j] = e >= thr ? w : 0.f;
        }
        g[tt] = -scale * sc[2];
    }
}

/* Phase 1, (N, C, P) logits: tiles of TILE pixels; every inner loop runs over contiguous
 * pixels. */
HEM_CLONES static void tiles_phase1(hem_job *job)
{
    const int64_t C = job->C, P = job->P;
    float shift[TILE], s[TILE], nanc[TILE], thr[TILE], sh[TILE], nh[TILE];
    int32_t tt[TILE];
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict xn = job->x + n * C * P;
        for (int64_t p0 = 0; p0 < P; p0 += TILE) {
            const int pn = (int)((P - p0) < TILE ? (P - p0) : TILE);
            for (int p = 0; p < pn; p++) {
                const int64_t target = job->target[n * P + p0 + p];
                s[p] = 0.f; nanc[p] = 0.f; sh[p] = 0.f; nh[p] = 0.f;
                if (target == job->ignore_index) {
                    /* no class is an error: e = y_j - inf < 0, and t = -1 matches no j */
                    tt[p] = -1;
                    shift[p] = INFINITY;
                    continue;
                }
                tt[p] = (int32_t)target;
                const float mu =
                    (float)(job->class_margins ? job->class_margins[tt[p]] : job->margin);
                shift[p] = xn[(int64_t)tt[p] * P + p0 + p] - mu;
            }
            for (int32_t j = 0; j < (int32_t)C; j++) {
                const float *xr = xn + (int64_t)j * P + p0;
#pragma omp simd
                for (int p = 0; p < pn; p++) {
                    const float e = xr[p] - shift[p];
                    s[p] += (e > 0.f && j != tt[p]) ? e : 0.f;
                    nanc[p] += (e != e && tt[p] >= 0) ? 1.f : 0.f;
                }
            }
#pragma omp simd
            for (int p = 0; p < pn; p++) {
                const int bad = tt[p] >= 0 && (!isfinite(shift[p]) || !isfinite(s[p]) || nanc[p] > 0.f);
                thr[p] = bad ? -INFINITY : (s[p] > 0.f ? s[p] / (float)C : INFINITY);
            }
            for (int32_t j = 0; j < (int32_t)C; j++) {
                const float *xr = xn + (int64_t)j * P + p0;
#pragma omp simd
                for (int p = 0; p < pn; p++) {
                    const float e = xr[p] - shift[p];
                    const float h = (e >= thr[p] && j != tt[p]) ? 1.f : 0.f;
                    sh[p] += h > 0.f ? e : 0.f;
                    nh[p] += h;
                }
            }
            for (int p = 0; p < pn; p++) {
                const int64_t i = n * P + p0 + p;
                float *sc = job->scratch + 3 * i;
                if (thr[p] == -INFINITY) {
                    job->loss[i] = NAN;
                    sc[0] = -INFINITY; sc[1] = NAN; sc[2] = NAN;
                } else if (nh[p] == 0.f) {
                    job->loss[i] = 0.f;
                    sc[0] = INFINITY; sc[1] = 0.f; sc[2] = 0.f;
                } else {
                    const float inv = 1.f / (EPS + nh[p]);
                    job->loss[i] = sh[p] * inv;
                    job->positive += sh[p] * inv > 0.f;
                    sc[0] = thr[p]; sc[1] = inv; sc[2] = nh[p] * inv;
                }
            }
        }
    }
}

/* Phase 2, (N, C, P) logits. */
HEM_CLONES static void tiles_phase2(const hem_job *job)
{
    const int64_t C = job->C, P = job->P;
    const float scale = job->scale;
    float shift[TILE], thr[TILE], w[TILE], tval[TILE];
    int32_t tt[TILE];
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict xn = job->x + n * C * P;
        float *restrict gn = job->grad + n * C * P;
        for (int64_t p0 = 0; p0 < P; p0 += TILE) {
            const int pn = (int)((P - p0) < TILE ? (P - p0) : TILE);
            for (int p = 0; p < pn; p++) {
                const int64_t i = n * P + p0 + p;
                const float *sc = job->scratch + 3 * i;
                const int64_t target = job->target[i];
                thr[p] = sc[0];
                w[p] = scale * sc[1];
                tval[p] = -scale * sc[2];
                if (target == job->ignore_index || sc[1] == 0.f) {
                    tt[p] = -1;
                    shift[p] = 0.f;
                    thr[p] = INFINITY;
                    tval[p] = 0.f;
                    continue;
                }
                tt[p] = (int32_t)target;
                const float mu =
                    (float)(job->class_margins ? job->class_margins[tt[p]] : job->margin);
                shift[p] = xn[(int64_t)tt[p] * P + p0 + p] - mu;
            }
            for (int32_t j = 0; j < (int32_t)C; j++) {
                const float *restrict xr = xn + (int64_t)j * P + p0;
                float *restrict gr = gn + (int64_t)j * P + p0;
#pragma omp simd
                for (int p = 0; p < pn; p++) {
                    const float e = xr[p] - shift[p];
                    const float h = e >= thr[p] ? w[p] : 0.f;
                    gr[p] = j == tt[p] ? tval[p] : h;
                }
            }
        }
    }
}

static void *run_job(void *arg)
{
    hem_job *job = (hem_job *)arg;
    if (job->phase == 1) {
        if (job->P == 1) rows_phase1(job); else tiles_phase1(job);
    } else {
        if (job->P == 1) rows_phase2(job); else tiles_phase2(job);
    }
    return NULL;
}

static void run_parallel(hem_job *jobs, int threads)
{
    pthread_t handles[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 1; i < threads; i++)
        started[i] = pthread_create(&handles[i], NULL, run_job, &jobs[i]) == 0;
    run_job(&jobs[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(handles[i], NULL);
        else run_job(&jobs[i]); /* no thread could start: do its share here */
    }
}

/* forward(x_ptr, target_ptr, class_margins_ptr (0: none), margin, ignore_index, mean,
 *         loss_ptr, grad_ptr, scratch_ptr, N, C, P, threads) -> count:
 *         float32 logits (N, C, P); int64 targets (N, P) in [0, C) or equal to
 *         ignore_index; float32 outputs loss (N, P) and grad (N, C, P) = scale * d loss /
 *         d logits, with scale = 1 / (EPS + count) when mean is true, else 1; float32
 *         scratch of 3 * N * P; all contiguous. count: examples with a positive loss. */
static PyObject *hem_forward(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long x_ptr, t_ptr, cm_ptr, loss_ptr, grad_ptr, scratch_ptr;
    double margin;
    long long ignore_index, N, C, P;
    int mean, threads;
    if (!PyArg_ParseTuple(args, "KKKdLpKKKLLLi", &x_ptr, &t_ptr, &cm_ptr, &margin,
                          &ignore_index, &mean, &loss_ptr, &grad_ptr, &scratch_ptr, &N, &C,
                          &P, &threads))
        return NULL;
    if (N < 0 || C < 1 || P < 1 || C > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "hem kernel: invalid sizes");
        return NULL;
    }
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((long long)threads > N) threads = N > 0 ? (int)N : 1;
    if (N * C * P < (1LL << 16)) threads = 1; /* threads only pay off on large inputs */

    hem_job jobs[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        hem_job *job = &jobs[i];
        job->x = (const float *)(uintptr_t)x_ptr;
        job->target = (const int64_t *)(uintptr_t)t_ptr;
        job->class_margins = (const double *)(uintptr_t)cm_ptr;
        job->margin = margin;
        job->ignore_index = ignore_index;
        job->scale = 1.f;
        job->loss = (float *)(uintptr_t)loss_ptr;
        job->grad = (float *)(uintptr_t)grad_ptr;
        job->scratch = (float *)(uintptr_t)scratch_ptr;
        job->C = C;
        job->P = P;
        job->n_begin = N * i / threads;
        job->n_end = N * (i + 1) / threads;
        job->positive = 0;
        job->phase = 1;
    }
    long long count = 0;
    Py_BEGIN_ALLOW_THREADS
    run_parallel(jobs, threads);
    for (int i = 0; i < threads; i++) count += jobs[i].positive;
    const float scale = mean ? (float)(1.0 / (1e-6 + (double)count)) : 1.f;
    for (int i = 0; i < threads; i++) {
        jobs[i].phase = 2;
        jobs[i].scale = scale;
    }
    run_parallel(jobs, threads);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(count);
}

static PyMethodDef methods[] = {
    {"forward", hem_forward, METH_VARARGS,
     "HEM loss, its gradient and the count of examples with a positive loss, for contiguous "
     "float32 (N, C, P) logits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hem_kernel",
    "CPU kernel of the HEM loss (see hem_bench.losses.hem).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hem_kernel(void) { return PyModule_Create(&module); }
