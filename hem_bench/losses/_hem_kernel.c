/*
 * CPU kernel of the high error margin (HEM) loss (Spratling & Schütt 2025, arXiv:2501.12191),
 * float32 only.
 *
 * For one example (pixel) with logits y and target t:
 *   e_j = max(0, y_j - y_t + mu_t) for j != t,   P = {j : e_j > 0},
 *   ebar = mean of e_j over P,   H = {j in P : e_j >= ebar},   loss = mean of e_j over H
 * (0 when P is empty). It also writes the gradient of the loss with respect to the logits,
 * 1/|H| on H, -1 on the target (when H is not empty) and 0 elsewhere, times a scale (1/M
 * for a mean over M examples), which the autograd Function hands to the backward pass.
 *
 * Logits are laid out (N, C, P): P = 1 for (N, C) inputs, P = d1*d2*... for dense ones.
 * Rows (P = 1) are processed one by one; dense inputs in tiles of TILE pixels so that every
 * loop over pixels is contiguous and vectorises. Work is split across threads by examples.
 * The pure-PyTorch implementation in hem.py computes the same quantities and is used where
 * this module is not built, for float64 and on GPUs; the tests check that both agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define TILE 64
#define MAX_THREADS 64

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
    float scale;          /* the gradient is scaled by this (1 / count for a mean) */
    float *loss;
    float *grad;
    int64_t n_begin, n_end, C, P;
} hem_job;

/* (N, C) logits: one row at a time. Two passes over a row: the statistics of the positive
 * errors, then the high errors, whose indicator is written to the gradient; a third
 * scales it. */
HEM_CLONES static void hem_rows(const hem_job *job)
{
    const int32_t C = (int32_t)job->C;
    const float scale = job->scale;
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict row = job->x + n * C;
        float *restrict g = job->grad + n * C;
        if (job->target[n] == job->ignore_index) {
            memset(g, 0, (size_t)C * sizeof(float));
            job->loss[n] = 0.f;
            continue;
        }
        const int32_t tt = (int32_t)job->target[n];
        const float mu = (float)(job->class_margins ? job->class_margins[tt] : job->margin);
        const float shift = row[tt] - mu;
        float s = 0.f, k = 0.f, mx = 0.f;
#pragma omp simd reduction(+ : s, k) reduction(max : mx)
        for (int32_t j = 0; j < C; j++) {
            const float e = row[j] - shift;
            const float pos = (e > 0.f && j != tt) ? e : 0.f;
            s += pos;
            k += pos > 0.f ? 1.f : 0.f;
            mx = pos > mx ? pos : mx;
        }
        const float mean = k > 0.f ? s / k : INFINITY;
        const float thr = mean > mx && k > 0.f ? mx : mean; /* a rounded mean above all (ties) */
        float sh = 0.f, nh = 0.f;
#pragma omp simd reduction(+ : sh, nh)
        for (int32_t j = 0; j < C; j++) {
            const float e = row[j] - shift;
            const float h = (e >= thr && j != tt) ? 1.f : 0.f;
            g[j] = h;
            sh += h * e;
            nh += h;
        }
        job->loss[n] = nh > 0.f ? sh / nh : 0.f;
        if (nh > 0.f) {
            const float w = scale / nh;
#pragma omp simd
            for (int32_t j = 0; j < C; j++) g[j] *= w;
            g[tt] = -scale;
        } else {
            g[tt] = 0.f;
        }
    }
}

/* (N, C, P) logits: tiles of TILE pixels; every inner loop runs over contiguous pixels. */
HEM_CLONES static void hem_tiles(const hem_job *job)
{
    const int64_t C = job->C, P = job->P;
    const float scale = job->scale;
    float shift[TILE], s[TILE], k[TILE], mx[TILE], thr[TILE], sh[TILE], nh[TILE], w[TILE];
    float tval[TILE];
    int32_t tt[TILE];
    for (int64_t n = job->n_begin; n < job->n_end; n++) {
        const float *restrict xn = job->x + n * C * P;
        float *restrict gn = job->grad + n * C * P;
        for (int64_t p0 = 0; p0 < P; p0 += TILE) {
            const int pn = (int)((P - p0) < TILE ? (P - p0) : TILE);
            for (int p = 0; p < pn; p++) {
                const int64_t target = job->target[n * P + p0 + p];
                s[p] = 0.f; k[p] = 0.f; mx[p] = 0.f; sh[p] = 0.f; nh[p] = 0.f;
                if (target == job->ignore_index) {
                    /* no class is an error: e = y_j - y_0 - inf < 0, and t = -1 matches no j */
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
                    const float pos = (e > 0.f && j != tt[p]) ? e : 0.f;
                    s[p] += pos;
                    k[p] += pos > 0.f ? 1.f : 0.f;
                    mx[p] = pos > mx[p] ? pos : mx[p];
                }
            }
#pragma omp simd
            for (int p = 0; p < pn; p++) {
                const float mean = k[p] > 0.f ? s[p] / k[p] : INFINITY;
                thr[p] = mean > mx[p] && k[p] > 0.f ? mx[p] : mean;
            }
            for (int32_t j = 0; j < (int32_t)C; j++) {
                const float *xr = xn + (int64_t)j * P + p0;
#pragma omp simd
                for (int p = 0; p < pn; p++) {
                    const float e = xr[p] - shift[p];
                    const float h = (e >= thr[p] && j != tt[p]) ? 1.f : 0.f;
                    sh[p] += h * e;
                    nh[p] += h;
                }
            }
#pragma omp simd
            for (int p = 0; p < pn; p++) {
                w[p] = nh[p] > 0.f ? scale / nh[p] : 0.f;
                tval[p] = nh[p] > 0.f ? -scale : 0.f;
            }
            for (int32_t j = 0; j < (int32_t)C; j++) {
                const float *restrict xr = xn + (int64_t)j * P + p0;
                float *restrict gr = gn + (int64_t)j * P + p0;
#pragma omp simd
                for (int p = 0; p < pn; p++) {
                    const float e = xr[p] - shift[p];
                    const float h = (e >= thr[p] && j != tt[p]) ? w[p] : 0.f;
                    gr[p] = j == tt[p] ? tval[p] : h;
                }
            }
            for (int p = 0; p < pn; p++)
                job->loss[n * P + p0 + p] = nh[p] > 0.f ? sh[p] / nh[p] : 0.f;
        }
    }
}

static void *run_job(void *arg)
{
    const hem_job *job = (const hem_job *)arg;
    if (job->P == 1) hem_rows(job); else hem_tiles(job);
    return NULL;
}

/* forward(x_ptr, target_ptr, class_margins_ptr (0: none), margin, ignore_index, scale,
 *         loss_ptr, grad_ptr, N, C, P, threads): float32 logits (N, C, P); int64 targets
 *         (N, P) in [0, C) or equal to ignore_index; float32 outputs loss (N, P) and
 *         grad (N, C, P) = scale * d loss / d logits; all contiguous. */
static PyObject *hem_forward(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long x_ptr, t_ptr, cm_ptr, loss_ptr, grad_ptr;
    double margin, scale;
    long long ignore_index, N, C, P;
    int threads;
    if (!PyArg_ParseTuple(args, "KKKdLdKKLLLi", &x_ptr, &t_ptr, &cm_ptr, &margin,
                          &ignore_index, &scale, &loss_ptr, &grad_ptr, &N, &C, &P, &threads))
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
    pthread_t handles[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        hem_job *job = &jobs[i];
        job->x = (const float *)(uintptr_t)x_ptr;
        job->target = (const int64_t *)(uintptr_t)t_ptr;
        job->class_margins = (const double *)(uintptr_t)cm_ptr;
        job->margin = margin;
        job->ignore_index = ignore_index;
        job->scale = (float)scale;
        job->loss = (float *)(uintptr_t)loss_ptr;
        job->grad = (float *)(uintptr_t)grad_ptr;
        job->C = C;
        job->P = P;
        job->n_begin = N * i / threads;
        job->n_end = N * (i + 1) / threads;
        started[i] = 0;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int i = 1; i < threads; i++)
        started[i] = pthread_create(&handles[i], NULL, run_job, &jobs[i]) == 0;
    run_job(&jobs[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(handles[i], NULL);
        else run_job(&jobs[i]); /* no thread could start: do its share here */
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"forward", hem_forward, METH_VARARGS,
     "HEM loss and its gradient for contiguous float32 (N, C, P) logits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hem_kernel",
    "CPU kernel of the HEM loss (see hem_bench.losses.hem).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hem_kernel(void) { return PyModule_Create(&module); }
