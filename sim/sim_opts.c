/*
 * sim_opts: see sim_opts.h.  The table below is the single source of truth
 * for ipo-sim's options.
 */
#include "sim_opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_type { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_FLAG } opt_type_t;

typedef struct opt_def {
  const char *name;
  const char *arg;     /* placeholder in help, NULL for flags */
  opt_type_t type;
  size_t offset;
  const char *def;     /* default as text, NULL for none */
  const char *help;
} opt_def_t;

#define O(f) offsetof(sim_opts_t, f)
static const opt_def_t opt_table[] = {
    {"listen", "ADDR:PORT", OPT_STR, O(listen), "127.0.0.1:8443",
     "MTCTI3 websocket (wss, path /tpkt/openapi); port 0 picks a free port"},
    {"secondary", "ADDR:PORT", OPT_STR, O(secondary), NULL,
     "also serve a secondary IP Office on ADDR:PORT: a resilient pair sharing one model (see docs/sim.md); port 0 picks a free port"},
    {"control", "ADDR:PORT", OPT_STR, O(control), "127.0.0.1:0",
     "control HTTP JSON API (loopback addresses only); port 0 picks a free port"},
    {"ready-file", "PATH", OPT_STR, O(ready_file), NULL,
     "written atomically once listening: {\"wss_port\",\"control_port\",\"ca_file\",\"pid\",\"systems\":[{\"name\",\"wss_port\",\"url\"}]}"},
    {"model", "FILE", OPT_STR, O(model_file), NULL, "PBX model as JSON (see docs/sim.md); overrides --users/--queues"},
    {"users", "N", OPT_INT, O(users), "20", "generated model: number of users (extensions 2001...)"},
    {"queues", "M", OPT_INT, O(queues), "3", "generated model: number of queues (extensions 5001...)"},
    {"seed", "S", OPT_INT, O(seed), "1", "seed of the generated model and of the load generator"},
    {"service-user", "NAME", OPT_STR, O(service_user), "mtcti3",
     "service user of HTTP Basic authentication (password from IPO_SIM_PASSWORD or --password-file, else \"" SIM_DEFAULT_PASSWORD "\")"},
    {"password-file", "PATH", OPT_STR, O(password_file), NULL, "file whose first line is the service user's password"},
    {"cert", "FILE", OPT_STR, O(cert), NULL, "server certificate chain (PEM); with --key"},
    {"key", "FILE", OPT_STR, O(key), NULL, "server private key (PEM); with --cert"},
    {"tls-dir", "DIR", OPT_STR, O(tls_dir), NULL,
     "use DIR/ca.pem, server.pem, server.key, generating them (self-signed CA, server cert for 127.0.0.1/localhost) when absent; default a fresh temporary directory"},
    {"insecure-plain-ws", NULL, OPT_FLAG, O(insecure_plain_ws), NULL,
     "TEST ONLY: also accept plain ws:// (a real IP Office refuses plain HTTP)"},
    {"calls-per-second", "R", OPT_DOUBLE, O(calls_per_second), "0", "load generator: new calls per second (0 = off)"},
    {"user-changes-per-second", "R", OPT_DOUBLE, O(user_changes_per_second), "0", "load generator: user changes per second (DND, app presence, absence, voicemail; 0 = off)"},
    {"scenario", "FILE", OPT_STR, O(scenario), NULL, "run the timed steps of a scenario file (see docs/sim.md)"},
    {"max-connections", "N", OPT_INT, O(max_connections), "10", "MTCTI3 connections allowed at once (IP Office: 10)"},
    {"max-payload", "BYTES", OPT_INT, O(max_payload), "1048576", "largest websocket message accepted; larger closes the connection (1009)"},
    {"ring-ms", "MS", OPT_INT, O(ring_ms), "1500", "how long simulated far ends and load-generator phones take to answer"},
    {"log-level", "LEVEL", OPT_STR, O(log_level), "info", "error, warn, info or debug (debug logs every MTCTI3 message)"},
    {"help", NULL, OPT_FLAG, O(help), NULL, "print this help and exit"},
    {"help-markdown", NULL, OPT_FLAG, O(help_markdown), NULL,
     "print the option and control API tables as Markdown (docs/sim.md) and exit"},
    {"version", NULL, OPT_FLAG, O(version), NULL, "print the version and exit"},
};
#undef O
#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

static int opt_set(sim_opts_t *opts, const opt_def_t *def, const char *val, char *errstr,
                   size_t errstr_size) {
  char *p = (char *)opts + def->offset;
  char *end = NULL;
  switch (def->type) {
  case OPT_STR:
    *(const char **)p = val;
    return 0;
  case OPT_FLAG:
    *(int *)p = 1;
    return 0;
  case OPT_INT: {
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || !end || *end || v < 0 || v > 1000000000) {
      snprintf(errstr, errstr_size, "--%s: '%s' is not a non-negative integer", def->name, val);
      return -1;
    }
    *(int *)p = (int)v;
    return 0;
  }
  case OPT_DOUBLE: {
    errno = 0;
    double v = strtod(val, &end);
    if (errno || !end || *end || v < 0) {
      snprintf(errstr, errstr_size, "--%s: '%s' is not a non-negative number", def->name, val);
      return -1;
    }
    *(double *)p = v;
    return 0;
  }
  }
  return -1;
}

int sim_opts_parse(sim_opts_t *opts, int argc, char **argv, char *errstr, size_t errstr_size) {
  memset(opts, 0, sizeof *opts);
  for (size_t i = 0; i < OPT_COUNT; i++)
    if (opt_table[i].def && opt_set(opts, &opt_table[i], opt_table[i].def, errstr, errstr_size))
      return -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0) {
      snprintf(errstr, errstr_size, "unexpected argument '%s' (try --help)", a);
      return -1;
    }
    a += 2;
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const opt_def_t *def = NULL;
    for (size_t k = 0; k < OPT_COUNT; k++)
      if (strlen(opt_table[k].name) == nlen && strncmp(opt_table[k].name, a, nlen) == 0)
        def = &opt_table[k];
    if (!def) {
      snprintf(errstr, errstr_size, "unknown option '%s' (try --help)", argv[i]);
      return -1;
    }
    const char *val = NULL;
    if (def->type != OPT_FLAG) {
      if (eq)
        val = eq + 1;
      else if (i + 1 < argc)
        val = argv[++i];
      else {
        snprintf(errstr, errstr_size, "--%s needs %s", def->name, def->arg);
        return -1;
      }
    } else if (eq) {
      snprintf(errstr, errstr_size, "--%s takes no value", def->name);
      return -1;
    }
    if (opt_set(opts, def, val, errstr, errstr_size))
      return -1;
  }
  if ((opts->cert == NULL) != (opts->key == NULL)) {
    snprintf(errstr, errstr_size, "--cert and --key go together");
    return -1;
  }
  if (opts->cert && opts->tls_dir) {
    snprintf(errstr, errstr_size, "--cert/--key and --tls-dir exclude each other");
    return -1;
  }
  if (opts->max_connections < 1) {
    snprintf(errstr, errstr_size, "--max-connections must be at least 1");
    return -1;
  }
  return 0;
}

void sim_opts_usage(FILE *out, const char *prog) {
  fprintf(out, "usage: %s [options]\n\nAn Avaya IP Office simulator speaking MTCTI3.\n\n", prog);
  for (size_t i = 0; i < OPT_COUNT; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", opt_table[i].name, opt_table[i].arg ? " " : "",
             opt_table[i].arg ? opt_table[i].arg : "");
    fprintf(out, "  %-28s %s", left, opt_table[i].help);
    if (opt_table[i].def)
      fprintf(out, " (default %s)", opt_table[i].def);
    fputc('\n', out);
  }
  fprintf(out, "\nEnvironment: IPO_SIM_PASSWORD  the service user's password\n");
}

void sim_opts_markdown(FILE *out) {
  fprintf(out, "| option | default | meaning |\n|---|---|---|\n");
  for (size_t i = 0; i < OPT_COUNT; i++)
    fprintf(out, "| `--%s%s%s` | %s | %s |\n", opt_table[i].name, opt_table[i].arg ? " " : "",
            opt_table[i].arg ? opt_table[i].arg : "", opt_table[i].def ? opt_table[i].def : "",
            opt_table[i].help);
}

int sim_opts_load_password(sim_opts_t *opts, char *errstr, size_t errstr_size) {
  const char *env = getenv("IPO_SIM_PASSWORD");
  if (env && *env) {
    snprintf(opts->password, sizeof opts->password, "%s", env);
    return 0;
  }
  if (!opts->password_file) {
    snprintf(opts->password, sizeof opts->password, "%s", SIM_DEFAULT_PASSWORD);
    return 0;
  }
  FILE *f = fopen(opts->password_file, "r");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", opts->password_file, strerror(errno));
    return -1;
  }
  if (!fgets(opts->password, sizeof opts->password, f))
    opts->password[0] = '\0';
  fclose(f);
  opts->password[strcspn(opts->password, "\r\n")] = '\0';
  return 0;
}

int sim_opts_split_addr(const char *text, char *addr, size_t addr_size, int *port) {
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= addr_size)
    return -1;
  memcpy(addr, text, (size_t)(colon - text));
  addr[colon - text] = '\0';
  char *end = NULL;
  long p = strtol(colon + 1, &end, 10);
  if (!end || *end || p < 0 || p > 65535)
    return -1;
  *port = (int)p;
  return 0;
}
