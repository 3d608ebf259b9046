/*
 * sim_opts: ipo-sim's command line.
 *
 * DESIGN: one table lists every option with its argument, default and help
 * text; it drives parsing, --help and the option list in docs/sim.md
 * (sim_opts_markdown), so they cannot disagree.  The result is a plain
 * struct of settings, read by main and handed to the modules.  Secrets are
 * never options: the password comes from IPO_SIM_PASSWORD or a file.
 */
#ifndef SIM_OPTS_H
#define SIM_OPTS_H

#include <stddef.h>
#include <stdio.h>

#define SIM_DEFAULT_PASSWORD "mtcti3-sim"

typedef struct sim_opts {
  char *listen;          /* ADDR:PORT of the MTCTI3 websocket (the primary of a pair) */
  char *secondary;       /* ADDR:PORT of the secondary's websocket: a resilient pair; NULL: none */
  char *control;         /* ADDR:PORT of the control HTTP API */
  char *ready_file;
  char *model_file;
  int users;
  int queues;
  int seed;
  char *service_user;
  char *password_file;
  char *cert;
  char *key;
  char *tls_dir;
  int insecure_plain_ws;
  double calls_per_second;
  double user_changes_per_second;
  char *scenario;
  int max_connections;
  int max_payload;
  char *log_level;
  int ring_ms;            /* load generator and trunk far ends: how long to ring */
  int help;
  int help_markdown;
  int version;
  char password[256];    /* filled by sim_opts_load_password */
} sim_opts_t;

/*
 * Fill *opts from argv (defaults first).  0, or -1 with errstr filled.
 * Strings in *opts point into argv or static defaults: nothing to free.
 */
int sim_opts_parse(sim_opts_t *opts, int argc, char **argv, char *errstr, size_t errstr_size);
/* --help text. */
void sim_opts_usage(FILE *out, const char *prog);
/* The option table as a Markdown table, for docs/sim.md. */
void sim_opts_markdown(FILE *out);
/* Password from IPO_SIM_PASSWORD, else --password-file, else the demo default. */
int sim_opts_load_password(sim_opts_t *opts, char *errstr, size_t errstr_size);
/* Split "ADDR:PORT"; addr receives the address part.  0 or -1. */
int sim_opts_split_addr(const char *text, char *addr, size_t addr_size, int *port);

#endif
