/* One function per `kdcl COMMAND`; argv holds the arguments after the
 * command name (global options included). Each returns the exit status. */
#ifndef KD_COMMANDS_H
#define KD_COMMANDS_H

int kd_cmd_devices(int argc, char **argv);
int kd_cmd_summary(int argc, char **argv);
int kd_cmd_train(int argc, char **argv);
int kd_cmd_distill(int argc, char **argv);
int kd_cmd_eval(int argc, char **argv);
int kd_cmd_predict(int argc, char **argv);
int kd_cmd_tune(int argc, char **argv);
int kd_cmd_bench(int argc, char **argv);

/* Shared by tune and bench (cmd_bench.c): the models whose GEMM shapes they
 * time by default (CPU-sized, 1x28x28), and those shapes: what one training
 * step of m at `batch` hands to kd_sgemm, merged when equal, heaviest
 * (count x m*n*k) first; returns how many were written (at most cap). */
#define KD_BENCH_TEACHER "resnet14:width=0.25"
#define KD_BENCH_STUDENT "conv16x3p1,relu,maxpool2,conv32x3p1,relu,maxpool2,conv64x3p1,relu,flatten,dense128,relu,dropout0.5"
struct kd_model;
struct kd_tune_shape;
int kd_model_gemm_shapes(const struct kd_model *m, int batch, struct kd_tune_shape *out, int cap);

#endif
