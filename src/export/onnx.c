/* kdcl model -> ONNX ModelProto. Every message is built in memory that one
 * allocation list owns (protobuf-c's structs hold plain pointers), packed
 * by protobuf-c and written atomically. */
#include "src/export/onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"
#include "runtime/fsutil.h"
#include "src/layers/batchnorm.h"
#include "src/model/fold.h"
#include "src/model/model.h"
#include "src/model/weights.h"

/* The IR version that goes with each opset (onnx/helper.py VERSION_TABLE). */
static int64_t ir_version_for(int opset) {
    if (opset <= 14) return 7;
    if (opset <= 18) return 8;
    if (opset <= 20) return 9;
    return 10;
}

/* ---- memory: every allocation is kept here and freed together ---- */

typedef struct arena {
    void **ptrs;
    int n, cap;
    bool oom;
} arena;

static void *take(arena *a, size_t size) {
    if (a->oom) return NULL;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 256;
        void **p = realloc(a->ptrs, (size_t)cap * sizeof *p);
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->ptrs = p;
        a->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        a->oom = true;
        return NULL;
    }
    a->ptrs[a->n++] = m;
    return m;
}

static char *fmt(arena *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(arena *a, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int len = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = len >= 0 ? take(a, (size_t)len + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)len + 1, f, ap);
    va_end(ap);
    return s;
}

static void arena_free(arena *a) {
    for (int i = 0; i < a->n; i++) free(a->ptrs[i]);
    free(a->ptrs);
}

/* ---- the graph under construction ---- */

typedef struct builder {
    arena a;
    Onnx__GraphProto *g;
    size_t node_cap, init_cap;
} builder;

static Onnx__NodeProto *add_node(builder *b, const char *op, const char *name, const char *in0, const char *in1,
                                 const char *in2, const char *out) {
    if (b->g->n_node == b->node_cap) {
        b->a.oom = true; /* capacity is computed up front; reaching it is a bug */
        return NULL;
    }
    Onnx__NodeProto *n = take(&b->a, sizeof *n);
    char **ins = take(&b->a, 3 * sizeof *ins);
    char **outs = take(&b->a, sizeof *outs);
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    const char *in[3] = {in0, in1, in2};
    for (int i = 0; i < 3 && in[i]; i++) ins[n->n_input++] = (char *)in[i];
    n->input = ins;
    outs[0] = (char *)out;
    n->output = outs;
    n->n_output = 1;
    n->attribute = take(&b->a, 8 * sizeof *n->attribute);
    b->g->node[b->g->n_node++] = n;
    return n;
}

static Onnx__AttributeProto *add_attr(builder *b, Onnx__NodeProto *n, const char *name) {
    if (!n || !n->attribute || n->n_attribute == 8) {
        b->a.oom = true;
        return NULL;
    }
    Onnx__AttributeProto *at = take(&b->a, sizeof *at);
    if (!at) return NULL;
    onnx__attribute_proto__init(at);
    at->name = (char *)name;
    n->attribute[n->n_attribute++] = at;
    return at;
}

static void attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *at = add_attr(b, n, name);
    if (!at) return;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->has_i = 1;
    at->i = v;
}

static void attr_float(builder *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *at = add_attr(b, n, name);
    if (!at) return;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    at->has_f = 1;
    at->f = v;
}

static void attr_ints(builder *b, Onnx__NodeProto *n, const char *name, int count, int64_t v) {
    Onnx__AttributeProto *at = add_attr(b, n, name);
    int64_t *vals = take(&b->a, (size_t)count * sizeof *vals);
    if (!at || !vals) return;
    for (int i = 0; i < count; i++) vals[i] = v;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    at->ints = vals;
    at->n_ints = (size_t)count;
}

/* A float32 initializer; `data` must live in the arena. */
static void add_init(builder *b, const char *name, int ndim, const int64_t *dims, const float *data, size_t count) {
    if (b->g->n_initializer == b->init_cap) {
        b->a.oom = true;
        return;
    }
    Onnx__TensorProto *t = take(&b->a, sizeof *t);
    int64_t *d = take(&b->a, (size_t)(ndim ? ndim : 1) * sizeof *d);
    if (!t || !d) return;
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->dims = d;
    t->n_dims = (size_t)ndim;
    /* raw_data is little-endian; so is every host kdcl builds for (safetensors.h). */
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = count * sizeof(float);
    b->g->initializer[b->g->n_initializer++] = t;
}

/* A graph input/output: float32 [batch or "N"][dims...]. */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, int batch, int ndim, const int *dims) {
    Onnx__ValueInfoProto *v = take(&b->a, sizeof *v);
    Onnx__TypeProto *tp = take(&b->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = take(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = take(&b->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = take(&b->a, (size_t)(ndim + 1) * sizeof *dd);
    if (!v || !tp || !tt || !sh || !dd) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i <= ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = take(&b->a, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0 && batch == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = i == 0 ? batch : dims[i - 1];
        }
        dd[i] = d;
    }
    sh->dim = dd;
    sh->n_dim = (size_t)ndim + 1;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = (char *)name;
    v->type = tp;
    return v;
}

/* ---- parameters from the file ---- */

/* A copy (in the arena) of parameter `p` of m, read from f as float32. */
static float *param_data(builder *b, const kd_model *m, const kd_st_file *f, int p, kd_err *err) {
    kd_param_view pa = kd_model_param(m, p);
    const kd_st_tensor *t = kd_st_find(f, pa.name);
    if (!t) {
        kd_fail(err, KD_ERR_INPUT,
                "%s: tensor '%s' of model '%s' is missing: the file is damaged or not a complete kdcl model", f->path,
                pa.name, kd_model_spec(m));
        return NULL;
    }
    bool same = t->ndim == pa.ndim;
    for (int i = 0; same && i < pa.ndim; i++) same = t->shape[i] == pa.shape[i];
    if (!same || kd_st_numel(t) != pa.count) {
        kd_fail(err, KD_ERR_INPUT,
                "%s: tensor '%s' has a different shape from the one model '%s' gives it (%zu "
                "values, expected %zu)",
                f->path, pa.name, kd_model_spec(m), kd_st_numel(t), pa.count);
        return NULL;
    }
    float *data = take(&b->a, pa.count * sizeof *data);
    if (!data) {
        kd_fail(err, KD_ERR_NOMEM, "out of memory reading '%s'", pa.name);
        return NULL;
    }
    if (kd_st_to_f32(f, t, data, err) != KD_OK) return NULL;
    return data;
}

static const char *op_word(kd_op op) {
    switch (op) {
    case KD_OP_CONV: return "conv";
    case KD_OP_BN: return "batchnorm";
    case KD_OP_RELU: return "relu";
    case KD_OP_MAXPOOL: return "maxpool";
    case KD_OP_AVGPOOL: return "avgpool";
    case KD_OP_GAP: return "global average pooling";
    case KD_OP_FLATTEN: return "flatten";
    case KD_OP_DENSE: return "dense";
    case KD_OP_DROPOUT: return "dropout";
    case KD_OP_ADD: return "residual add";
    }
    return "?";
}

/* ---- the translation ---- */

typedef struct tensor_ref {
    const char *name; /* ONNX value name */
    int rank;         /* 4: N x C x H x W, 2: N x features */
} tensor_ref;

/* The batch norm that node i's output feeds alone, folded into node i
 * (a conv or dense layer), or -1. */
static int fold_target(const kd_model *m, int i) {
    const kd_node *n = kd_model_node(m, i);
    if ((n->op != KD_OP_CONV && n->op != KD_OP_DENSE) || n->consumers != 1) return -1;
    for (int j = i + 1; j < kd_model_nnodes(m); j++) {
        const kd_node *r = kd_model_node(m, j);
        if (r->in == i || r->in2 == i) return r->op == KD_OP_BN ? j : -1;
    }
    return -1;
}

/* Leading Sub/Div: the normalisation the data pipeline applied in training. */
static const char *add_normalize(builder *b, const kd_model *m, const kd_model_meta *meta, const char *x) {
    bool any = false;
    int channels = kd_model_input_shape(m).c;
    for (int c = 0; c < channels && c < 3; c++) any |= meta->std[c] > 0;
    if (!any) return x;
    float *mean = take(&b->a, (size_t)channels * sizeof *mean), *std = take(&b->a, (size_t)channels * sizeof *std);
    if (!mean || !std) return NULL;
    for (int c = 0; c < channels; c++) {
        bool on = c < 3 && meta->std[c] > 0; /* the kernel leaves a channel with std 0 as it is */
        mean[c] = on ? meta->mean[c] : 0.0f;
        std[c] = on ? meta->std[c] : 1.0f;
    }
    int64_t dims[4] = {1, channels, 1, 1};
    add_init(b, "preprocess.mean", 4, dims, mean, (size_t)channels);
    add_init(b, "preprocess.std", 4, dims, std, (size_t)channels);
    add_node(b, "Sub", "preprocess.sub", x, "preprocess.mean", NULL, "preprocess.centered");
    add_node(b, "Div", "preprocess.div", "preprocess.centered", "preprocess.std", NULL, "preprocess.normalized");
    return "preprocess.normalized";
}

static kd_status translate(builder *b, const kd_model *m, const kd_st_file *f, const kd_model_meta *meta,
                           const kd_onnx_opts *o, kd_onnx_info *info, kd_err *err) {
    int nnodes = kd_model_nnodes(m);
    tensor_ref *t = take(&b->a, (size_t)nnodes * sizeof *t);
    int *folded_into = take(&b->a, (size_t)nnodes * sizeof *folded_into);
    if (!t || !folded_into) return kd_fail(err, KD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nnodes; i++) folded_into[i] = -1;
    tensor_ref input = {add_normalize(b, m, meta, "input"), 4};
    for (int i = 0; i < nnodes && !b->a.oom; i++) {
        const kd_node *n = kd_model_node(m, i);
        tensor_ref x = n->in < 0 ? input : t[n->in];
        bool last = i == nnodes - 1;
        const char *out = last ? "logits" : fmt(&b->a, "%s:%d", n->name, i);
        const char *nname = fmt(&b->a, "%s", n->name);
        t[i] = (tensor_ref){out, x.rank};
        bool spatial = n->op == KD_OP_CONV || n->op == KD_OP_MAXPOOL || n->op == KD_OP_AVGPOOL || n->op == KD_OP_GAP;
        if (spatial && x.rank != 4)
            return kd_fail(err, KD_ERR_USAGE,
                           "layer '%s' (%s) of model '%s' follows a flatten or dense layer: ONNX's operator needs "
                           "an N x C x H x W input, and kdcl's export does not reshape back; put the %s before the "
                           "flatten",
                           n->name, op_word(n->op), kd_model_spec(m), op_word(n->op));
        switch (n->op) {
        case KD_OP_CONV:
        case KD_OP_DENSE: {
            kd_param_view wp = kd_model_param(m, n->param[0]);
            int cout = n->c; /* filters or units */
            float *w = param_data(b, m, f, n->param[0], err);
            if (!w) return b->a.oom ? KD_ERR_NOMEM : err->code;
            float *bias = n->param[1] >= 0 ? param_data(b, m, f, n->param[1], err) : NULL;
            if (n->param[1] >= 0 && !bias) return err->code;
            int bn = o->no_fold ? -1 : fold_target(m, i);
            if (bn >= 0) {
                const kd_node *bnn = kd_model_node(m, bn);
                float *p[4];
                for (int k = 0; k < 4; k++)
                    if (!(p[k] = param_data(b, m, f, bnn->param[k], err))) return err->code;
                float *fb = take(&b->a, (size_t)cout * sizeof *fb);
                if (!fb) return kd_fail(err, KD_ERR_NOMEM, "out of memory");
                kd_bn_params bp = {p[0], p[1], p[2], p[3], KD_BN_EPS};
                kd_fold_bn(w, bias, fb, cout, wp.count / (size_t)cout, &bp);
                bias = fb;
                folded_into[bn] = i;
                info->folded++;
            }
            const char *wname = wp.name;
            const char *bname = bias ? fmt(&b->a, "%s.bias", n->name) : NULL;
            add_init(b, wname, wp.ndim, wp.shape, w, wp.count);
            if (bias) {
                int64_t bd[1] = {cout};
                add_init(b, bname, 1, bd, bias, (size_t)cout);
            }
            if (n->op == KD_OP_CONV) {
                Onnx__NodeProto *c = add_node(b, "Conv", nname, x.name, wname, bname, out);
                attr_ints(b, c, "kernel_shape", 2, n->conv.k);
                attr_ints(b, c, "strides", 2, n->conv.stride);
                attr_ints(b, c, "pads", 4, n->conv.pad);
                break;
            }
            const char *flat = x.name;
            if (x.rank != 2) {
                flat = fmt(&b->a, "%s.flatten:%d", n->name, i);
                attr_int(b, add_node(b, "Flatten", fmt(&b->a, "%s.flatten", n->name), x.name, NULL, NULL, flat),
                         "axis", 1);
            }
            Onnx__NodeProto *g = add_node(b, "Gemm", nname, flat, wname, bname, out);
            attr_int(b, g, "transB", 1);
            t[i].rank = 2;
            break;
        }
        case KD_OP_BN:
            if (folded_into[i] >= 0) {
                t[i] = t[folded_into[i]];
                if (last) add_node(b, "Identity", nname, t[i].name, NULL, NULL, "logits");
                t[i].name = last ? "logits" : t[i].name;
                break;
            }
            {
                const char *pn[4];
                for (int k = 0; k < 4; k++) {
                    kd_param_view pp = kd_model_param(m, n->param[k]);
                    float *d = param_data(b, m, f, n->param[k], err);
                    if (!d) return err->code;
                    add_init(b, pp.name, 1, pp.shape, d, pp.count);
                    pn[k] = pp.name;
                }
                Onnx__NodeProto *bnode = add_node(b, "BatchNormalization", nname, x.name, pn[0], pn[1], out);
                if (bnode) { /* X, scale, B, mean, var: two more inputs than add_node takes */
                    char **ins = take(&b->a, 5 * sizeof *ins);
                    if (!ins) break;
                    memcpy(ins, bnode->input, 3 * sizeof *ins);
                    ins[3] = (char *)pn[2];
                    ins[4] = (char *)pn[3];
                    bnode->input = ins;
                    bnode->n_input = 5;
                }
                attr_float(b, bnode, "epsilon", KD_BN_EPS);
            }
            break;
        case KD_OP_RELU: add_node(b, "Relu", nname, x.name, NULL, NULL, out); break;
        case KD_OP_MAXPOOL:
        case KD_OP_AVGPOOL: {
            Onnx__NodeProto *p =
                add_node(b, n->op == KD_OP_MAXPOOL ? "MaxPool" : "AveragePool", nname, x.name, NULL, NULL, out);
            attr_ints(b, p, "kernel_shape", 2, n->pool.k);
            attr_ints(b, p, "strides", 2, n->pool.stride);
            attr_ints(b, p, "pads", 4, n->pool.pad);
            /* kdcl's average always divides by k*k (cl/pool.cl). */
            if (n->op == KD_OP_AVGPOOL) attr_int(b, p, "count_include_pad", 1);
            break;
        }
        case KD_OP_GAP: add_node(b, "GlobalAveragePool", nname, x.name, NULL, NULL, out); break;
        case KD_OP_FLATTEN:
            attr_int(b, add_node(b, "Flatten", nname, x.name, NULL, NULL, out), "axis", 1);
            t[i].rank = 2;
            break;
        case KD_OP_DROPOUT: /* inference: the identity */
            if (last) add_node(b, "Identity", nname, x.name, NULL, NULL, "logits");
            else t[i] = x;
            break;
        case KD_OP_ADD: {
            tensor_ref y = t[n->in2];
            if (y.rank != x.rank)
                return kd_fail(err, KD_ERR_USAGE, "layer '%s' of model '%s' adds tensors of different ranks", n->name,
                               kd_model_spec(m));
            add_node(b, "Add", nname, x.name, y.name, NULL, out);
            break;
        }
        }
    }
    if (b->a.oom) return kd_fail(err, KD_ERR_NOMEM, "out of memory building the ONNX graph");
    if (t[nnodes - 1].rank != 2)
        return kd_fail(err, KD_ERR_USAGE, "model '%s' does not end in a dense layer: its output is not N x classes",
                       kd_model_spec(m));
    if (o->softmax) attr_int(b, add_node(b, "Softmax", "softmax", "logits", NULL, NULL, "probabilities"), "axis", 1);
    return KD_OK;
}

static void add_meta(builder *b, Onnx__ModelProto *mp, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = take(&b->a, sizeof *e);
    if (!e || !mp->metadata_props) return;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = fmt(&b->a, "%s", value ? value : "");
    mp->metadata_props[mp->n_metadata_props++] = e;
}

#define INPUT_RULE                                                                                                  \
    "input: float32 N x C x H x W at the model's input size, pixels scaled to [0, 1] (x / 255); the model's "    \
    "normalisation, if any, is inside the graph (Sub, Div); resizing another size and replicating grayscale to 3 " \
    "channels are the caller's (see kdcl.preprocess)"

kd_status kd_onnx_export(const char *model_path, const char *out_path, const kd_onnx_opts *o, kd_onnx_info *info,
                         kd_err *err) {
    memset(info, 0, sizeof *info);
    if (o->opset < KD_ONNX_OPSET_MIN || o->opset > KD_ONNX_OPSET_MAX)
        return kd_fail(err, KD_ERR_USAGE, "--opset %d: kdcl writes opsets %d to %d", o->opset, KD_ONNX_OPSET_MIN,
                       KD_ONNX_OPSET_MAX);
    if (o->batch < 0) return kd_fail(err, KD_ERR_USAGE, "--batch %d: use a positive size or 'dynamic'", o->batch);
    kd_st_file f;
    KD_TRY(kd_st_read(model_path, &f, err));
    kd_model_meta meta;
    memset(&meta, 0, sizeof meta);
    kd_model *m = NULL;
    kd_status s = kd_weights_meta(&f, &meta, err);
    if (s == KD_OK && (s = kd_model_build(meta.spec, meta.in_c, meta.in_h, meta.in_w, meta.classes, &m, err)) != KD_OK)
        kd_err_prefix(err, "%s: ", model_path);
    builder b = {0};
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset;
    onnx__model_proto__init(&mp);
    onnx__graph_proto__init(&g);
    onnx__operator_set_id_proto__init(&opset);
    if (s == KD_OK) {
        b.g = &g;
        b.node_cap = (size_t)kd_model_nnodes(m) * 2 + 8;
        b.init_cap = (size_t)kd_model_nparams(m) + 8;
        g.node = take(&b.a, b.node_cap * sizeof *g.node);
        g.initializer = take(&b.a, b.init_cap * sizeof *g.initializer);
        g.input = take(&b.a, sizeof *g.input);
        g.output = take(&b.a, 2 * sizeof *g.output);
        mp.metadata_props = take(&b.a, 12 * sizeof *mp.metadata_props);
        if (b.a.oom) s = kd_fail(err, KD_ERR_NOMEM, "out of memory");
    }
    if (s == KD_OK) s = translate(&b, m, &f, &meta, o, info, err);
    if (s == KD_OK) {
        g.name = fmt(&b.a, "%s", meta.spec);
        g.doc_string = INPUT_RULE;
        kd_shape in = kd_model_input_shape(m);
        int in_dims[3] = {in.c, in.h, in.w}, out_dims[1] = {kd_model_classes(m)};
        g.input[g.n_input++] = value_info(&b, "input", o->batch, 3, in_dims);
        g.output[g.n_output++] = value_info(&b, "logits", o->batch, 1, out_dims);
        if (o->softmax) g.output[g.n_output++] = value_info(&b, "probabilities", o->batch, 1, out_dims);
        opset.domain = "";
        opset.has_version = 1;
        opset.version = o->opset;
        Onnx__OperatorSetIdProto *opsets[1] = {&opset};
        mp.opset_import = opsets;
        mp.n_opset_import = 1;
        mp.has_ir_version = 1;
        mp.ir_version = ir_version_for(o->opset);
        mp.producer_name = "kdcl";
        mp.producer_version = KDCL_VERSION;
        mp.doc_string = fmt(&b.a, "kdcl model '%s' exported from %s", meta.spec, model_path);
        mp.graph = &g;
        char buf[64];
        add_meta(&b, &mp, "kdcl.spec", meta.spec);
        snprintf(buf, sizeof buf, "%dx%dx%d", in.c, in.h, in.w);
        add_meta(&b, &mp, "kdcl.input", buf);
        snprintf(buf, sizeof buf, "%d", kd_model_classes(m));
        add_meta(&b, &mp, "kdcl.classes", buf);
        add_meta(&b, &mp, "kdcl.class_names", kd_st_meta(&f, "kdcl.class_names"));
        add_meta(&b, &mp, "kdcl.preprocess", kd_st_meta(&f, "kdcl.preprocess"));
        add_meta(&b, &mp, "kdcl.input_rule", INPUT_RULE);
        add_meta(&b, &mp, "kdcl.batchnorm", o->no_fold ? "BatchNormalization nodes (running statistics)"
                                                       : "folded into the convolution or dense layer before it");
        size_t size = b.a.oom ? 0 : onnx__model_proto__get_packed_size(&mp);
        uint8_t *bytes = size ? malloc(size) : NULL;
        if (!bytes) {
            s = kd_fail(err, KD_ERR_NOMEM, "out of memory packing the ONNX model");
        } else {
            onnx__model_proto__pack(&mp, bytes);
            kd_chunk c = {bytes, size};
            s = kd_write_atomic(out_path, &c, 1, err);
            free(bytes);
        }
        mp.opset_import = NULL;
        info->nodes = (int)g.n_node;
        info->initializers = (int)g.n_initializer;
        info->bytes = (long long)size;
    }
    arena_free(&b.a);
    kd_model_free(m);
    kd_model_meta_free(&meta);
    kd_st_free(&f);
    return s;
}
