/* The GEMMs one training step of a model runs, heaviest first, for `kdcl
 * tune` (what to tune for) and `kdcl bench` (what to time). Each layer
 * describes its own GEMMs (kd_conv_gemm_shapes, kd_dense_gemm_shapes), by
 * the same rules its forward and backward use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/layers/dense.h"
#include "src/model/model_private.h"

static void add_shape(kd_gemm_use *v, int *n, int cap, const char *node, const kd_gemm_shape *g) {
    for (int i = 0; i < *n; i++)
        if (v[i].ta == g->ta && v[i].tb == g->tb && v[i].m == g->m && v[i].n == g->n && v[i].k == g->k &&
            v[i].beta == g->beta) {
            v[i].count += g->batch;
            return;
        }
    if (*n == cap) return;
    kd_gemm_use *s = &v[(*n)++];
    memset(s, 0, sizeof *s);
    s->ta = g->ta, s->tb = g->tb, s->m = g->m, s->n = g->n, s->k = g->k, s->beta = g->beta, s->count = g->batch;
    snprintf(s->label, sizeof s->label, "%.32s %s %c%c %dx%dx%d%s", node, g->what, g->ta ? 'T' : 'N',
             g->tb ? 'T' : 'N', g->m, g->n, g->k, g->batch > 1 ? " (batched)" : "");
}

static double shape_weight(const kd_gemm_use *s) { return s->count * (double)s->m * (double)s->n * (double)s->k; }

static int cmp_weight(const void *a, const void *b) {
    double x = shape_weight(a), y = shape_weight(b);
    return (x < y) - (x > y);
}

int kd_model_gemm_shapes(const kd_model *m, const kd_ctx *ctx, int batch, kd_gemm_use *out, int cap) {
    int all_cap = 3 * m->nnodes + 1, n = 0;
    kd_gemm_use *all = calloc((size_t)all_cap, sizeof *all);
    if (!all) return 0;
    for (int i = 0; i < m->nnodes; i++) {
        const kd_node *nd = &m->nodes[i];
        bool need_dx = nd->in >= 0; /* nobody needs d loss / d input */
        kd_gemm_shape g[3];
        int ng = 0;
        if (nd->op == KD_OP_CONV) {
            kd_conv_desc d = kd_model_conv_desc(m, nd, batch);
            ng = kd_conv_gemm_shapes(ctx, &d, need_dx, g);
        } else if (nd->op == KD_OP_DENSE) {
            kd_dense_desc d = kd_model_dense_desc(m, nd, batch);
            ng = kd_dense_gemm_shapes(&d, need_dx, g);
        }
        for (int j = 0; j < ng; j++) add_shape(all, &n, all_cap, nd->name, &g[j]);
    }
    qsort(all, (size_t)n, sizeof *all, cmp_weight);
    if (n > cap) n = cap;
    memcpy(out, all, (size_t)n * sizeof *all);
    free(all);
    return n;
}
