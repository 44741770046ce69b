/*
 * postern: one binary for the daemon and its tools. The first argument
 * names the subcommand; "-c FILE" anywhere before it picks the
 * configuration (else $POSTERN_CONF, ./postern.conf, /etc/postern/postern.conf).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/conf.h"
#include "daemon.h"

#define POSTERN_VERSION "0.1.0"

static void usage(FILE *f)
{
    fputs("usage: postern [-c FILE] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  serve       run the mail daemon in the foreground (logs to stderr)\n"
          "  check       validate the configuration, users and aliases files\n"
          "  user add ADDRESS [--password-stdin]   add a mailbox user\n"
          "  user passwd ADDRESS [--password-stdin] change a password\n"
          "  user del ADDRESS                       remove a user (the Maildir stays)\n"
          "  user list                              list the users\n"
          "  sendmail [-t] [-i] [-f FROM] [-F NAME] [-bs] [RCPT...]  queue a message from stdin\n"
          "  queue list [--json]     the queue, like mailq (also: postern mailq)\n"
          "  queue show ID           one message's envelope and headers\n"
          "  queue flush [ID]        try now (all, or one message)\n"
          "  queue delete ID | hold ID | release ID\n"
          "  dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]  make a signing key\n"
          "  dkim sign DOMAIN < MESSAGE    print MESSAGE signed with DOMAIN's [dkim] key\n"
          "  dkim verify [--ip IP [--helo NAME] [--mail-from ADDR]] < MESSAGE\n"
          "              check DKIM, DMARC (and SPF) as the daemon would\n"
          "  version     print the version\n"
          "  help        this text\n"
          "\n"
          "The configuration is FILE, else $POSTERN_CONF, else ./postern.conf,\n"
          "else /etc/postern/postern.conf.\n",
          f);
}

int main(int argc, char **argv)
{
    /* Called as sendmail or mailq (a symlink), behave as they do. */
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "sendmail") == 0)
        return cli_sendmail(argc - 1, argv + 1);
    if (strcmp(base, "mailq") == 0)
        return cli_mailq(conf_default_path(NULL), argc - 1, argv + 1);
    const char *conf_arg = NULL;
    const char *cmd = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc) {
                fputs("postern: -c needs a file name\n", stderr);
                return 1;
            }
            conf_arg = argv[++i];
        } else if (cmd == NULL) {
            cmd = argv[i];
        } else {
            break;
        }
    }
    if (cmd == NULL) {
        usage(stderr);
        return 1;
    }
    /* Options after the command: -c FILE is accepted there too. */
    for (int k = i; k < argc; k++)
        if (strcmp(argv[k], "-c") == 0 && k + 1 < argc)
            conf_arg = argv[k + 1];
    const char *conf_path = conf_default_path(conf_arg);
    for (int k = i; k < argc; k++)
        if (strcmp(argv[k], "--help") == 0 && strcmp(cmd, "sendmail") != 0) {
            usage(stdout);
            return 0;
        }
    if (strcmp(cmd, "serve") == 0)
        return daemon_serve(conf_path);
    if (strcmp(cmd, "check") == 0)
        return cli_check(conf_path);
    if (strcmp(cmd, "sendmail") == 0) {
        if (conf_arg)
            setenv("POSTERN_CONF", conf_arg, 1);
        return cli_sendmail(argc - i, argv + i);
    }
    if (strcmp(cmd, "queue") == 0)
        return cli_queue(conf_path, argc - i, argv + i);
    if (strcmp(cmd, "mailq") == 0)
        return cli_mailq(conf_path, argc - i, argv + i);
    if (strcmp(cmd, "user") == 0)
        return cli_user(conf_path, argc - i, argv + i);
    if (strcmp(cmd, "dkim") == 0)
        return cli_dkim(conf_path, argc - i, argv + i);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("postern %s\n", POSTERN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "postern: unknown command '%s' (try postern help)\n", cmd);
    return 1;
}
