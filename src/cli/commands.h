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

#endif
