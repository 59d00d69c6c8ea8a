/* A model's layers as its builders describe them (src/model/graph.h): the
 * op, where its inputs come from, its output shape and the op's own
 * settings. Read-only outside src/model: the summary and the ONNX export
 * walk it (kd_model_node). What a node holds on the device for a batch is
 * the model's own business (model_private.h). */
#ifndef KD_MODEL_NODE_H
#define KD_MODEL_NODE_H

#include <stdbool.h>

typedef enum kd_op {
    KD_OP_CONV,
    KD_OP_BN,
    KD_OP_RELU,
    KD_OP_MAXPOOL,
    KD_OP_AVGPOOL,
    KD_OP_GAP,
    KD_OP_FLATTEN,
    KD_OP_DENSE,
    KD_OP_DROPOUT,
    KD_OP_ADD,
} kd_op;

typedef struct kd_conv_attr {
    int cout, k, stride, pad; /* cout filters of k x k */
    bool bias;
} kd_conv_attr;

typedef struct kd_pool_attr { /* max and average pooling */
    int k, stride, pad;
} kd_pool_attr;

typedef struct kd_dense_attr {
    int units;
    bool bias;
} kd_dense_attr;

typedef struct kd_dropout_attr {
    float p; /* probability of zeroing a value while training */
} kd_dropout_attr;

typedef struct kd_node {
    kd_op op;
    char name[96];  /* module path, as PyTorch names it: "layer1.0.conv1", "3", "fc.0" */
    int in, in2;    /* producing nodes; -1 = the model input; in2 only for ADD */
    int c, h, w;    /* output shape of one sample */
    union {         /* the op's settings: the member named after op (BN, RELU, GAP, FLATTEN, ADD have none) */
        kd_conv_attr conv;
        kd_pool_attr pool; /* MAXPOOL, AVGPOOL */
        kd_dense_attr dense;
        kd_dropout_attr dropout;
    };
    int param[4];   /* indices into the model's parameters (kd_model_param); conv/dense: weight, bias;
                       bn: weight, bias, running_mean, running_var; -1 none */
    bool head;      /* part of the classification head (summary subtotals) */
    int consumers;  /* nodes that read this one's output */
} kd_node;

#endif
