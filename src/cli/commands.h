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
int kd_cmd_export(int argc, char **argv);

/* The models whose GEMM shapes tune and bench time by default (CPU-sized,
 * 1x28x28); kd_model_gemm_shapes (src/model/model.h) lists the shapes. */
#define KD_BENCH_TEACHER "resnet14:width=0.25"
#define KD_BENCH_STUDENT "conv16x3p1,relu,maxpool2,conv32x3p1,relu,maxpool2,conv64x3p1,relu,flatten,dense128,relu,dropout0.5"

#endif
