/* cli: the command-line tools of the postern binary (see main.c). */
#ifndef POSTERN_CLI_CLI_H
#define POSTERN_CLI_CLI_H

int cli_check(const char *conf_path);
int cli_user(const char *conf_path, int argc, char **argv);
/* sendmail(8): argv are its options and recipients (no program name). */
int cli_sendmail(int argc, char **argv);
int cli_mailq(const char *conf_path, int argc, char **argv);
int cli_queue(const char *conf_path, int argc, char **argv);
/* dkim keygen|sign|verify: see cli/dkim.c. */
int cli_dkim(const char *conf_path, int argc, char **argv);

#endif
