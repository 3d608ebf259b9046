/*
 * mtcti3: the command-line tool, one binary with subcommands.
 *
 * DESIGN: cli_subcommands[] below is the one list of subcommands; it drives
 * dispatch, `mtcti3 --help` and `mtcti3 help NAME`.  Each subcommand owns an
 * options table (see cli.h) that drives its parsing (getopt_long, with the
 * table's names written whole) and its --help.  decode and
 * encode are thin loops around the codec: stdin in, stdout out, one line of
 * stderr per bad input naming the input line, exit 1 at the end if any input
 * failed, 2 for a bad command line.  Single-threaded.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codec_frame.h"
#include "codec_json.h"
#include "codec_text.h"

#define CLI_PROG "mtcti3"
#define CLI_ERRSTR_SIZE 512

/* ---- option parsing and help, driven by the tables ---- */

static const cli_choice_t *choice_at(const cli_option_t *opt, size_t i) {
  return (const cli_choice_t *)((const char *)opt->choices + i * opt->choice_size);
}

static void usage_error(const cli_subcommand_t *sub, const char *what, const char *arg) {
  fprintf(stderr, "%s %s: %s '%s'\nTry '%s %s --help'.\n", CLI_PROG, sub->name, what, arg,
          CLI_PROG, sub->name);
}

void cli_print_help(const cli_subcommand_t *sub) {
  const cli_option_t *opt;
  char left[64];
  size_t i;

  printf("Usage: %s %s [options]%s%s\n\n%s\n\n%s\n\nOptions:\n", CLI_PROG, sub->name,
         sub->args[0] ? " " : "", sub->args, sub->summary, sub->description);
  for (opt = sub->options; opt && opt->name; opt++) {
    if (opt->arg)
      snprintf(left, sizeof(left), "--%s %s", opt->name, opt->arg);
    else
      snprintf(left, sizeof(left), "--%s", opt->name);
    printf("  %-22s %s\n", left, opt->help);
    if (opt->type == CLI_OPT_CHOICE) {
      for (i = 0; choice_at(opt, i)->name; i++)
        printf("  %-22s   %-6s %s%s\n", "", choice_at(opt, i)->name, choice_at(opt, i)->help,
               i == 0 ? " (default)" : "");
    }
  }
  printf("  %-22s %s\n", "--help, -h", "show this help");
}

/* Store `value` for `opt`; 0, or -1 after a usage error. */
static int option_set(const cli_subcommand_t *sub, const cli_option_t *opt, const char *value,
                      void *opts) {
  char *field = (char *)opts + opt->offset;
  unsigned long long n;
  char *end;
  size_t i;

  switch (opt->type) {
  case CLI_OPT_FLAG:
    *(int *)field = 1;
    return 0;
  case CLI_OPT_SIZE:
    errno = 0;
    n = strtoull(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno == ERANGE ||
        n > SIZE_MAX) {
      fprintf(stderr, "%s %s: --%s wants a count, not '%s'\n", CLI_PROG, sub->name, opt->name,
              value);
      return -1;
    }
    *(size_t *)field = (size_t)n;
    return 0;
  case CLI_OPT_CHOICE:
    for (i = 0; choice_at(opt, i)->name; i++) {
      if (strcmp(choice_at(opt, i)->name, value) == 0) {
        *(int *)field = (int)i;
        return 0;
      }
    }
    fprintf(stderr, "%s %s: --%s wants one of", CLI_PROG, sub->name, opt->name);
    for (i = 0; choice_at(opt, i)->name; i++)
      fprintf(stderr, " %s", choice_at(opt, i)->name);
    fprintf(stderr, ", not '%s'\n", value);
    return -1;
  case CLI_OPT_STRING:
    *(const char **)field = value;
    return 0;
  }
  return -1;
}

/* getopt_long's value for the table's option i (above any character). */
#define CLI_OPT_VAL(i) (0x100 + (i))

/*
 * The option as written: for a long option getopt_long has stepped past it
 * (and past its value when that was a separate word).
 */
static const char *option_text(char **argv) {
  return optarg && optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
}

/* getopt_long also takes abbreviations ("--form"): the table's names must be written whole. */
static int option_whole(const char *text, const char *name) {
  size_t len = strlen(name);
  return strncmp(text, "--", 2) == 0 && strncmp(text + 2, name, len) == 0 &&
         (text[2 + len] == '\0' || text[2 + len] == '=');
}

int cli_parse_options(const cli_subcommand_t *sub, int argc, char **argv, void *opts) {
  const cli_option_t *opt;
  struct option *longopts;
  size_t n = 0, i;
  int c, rc = -1;

  for (opt = sub->options; opt && opt->name; opt++)
    n++;
  longopts = calloc(n + 2, sizeof(*longopts));
  if (!longopts) {
    fprintf(stderr, "%s %s: out of memory\n", CLI_PROG, sub->name);
    return -1;
  }
  for (i = 0; i < n; i++) {
    longopts[i].name = sub->options[i].name;
    longopts[i].has_arg = sub->options[i].type == CLI_OPT_FLAG ? no_argument : required_argument;
    longopts[i].val = CLI_OPT_VAL((int)i);
  }
  longopts[n].name = "help";
  longopts[n].val = 'h';
  /* "+": stop at the first operand (refused below); ":": a missing value is ':'; opterr 0: our messages */
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
    if (c == 'h') {
      cli_print_help(sub);
      rc = 1;
      goto done;
    }
    if (c == ':') {
      usage_error(sub, "option needs a value", argv[optind - 1]);
      goto done;
    }
    if (c == '?') { /* optopt: the option's value when known (it was given a value), else 0 or the letter */
      int flag = optopt >= CLI_OPT_VAL(0) || (optopt == 'h' && strncmp(argv[optind - 1], "--", 2) == 0);
      char letter[3] = {'-', (char)optopt, '\0'};
      usage_error(sub, flag ? "option takes no value" : "unknown option",
                  flag || !optopt ? argv[optind - 1] : letter);
      goto done;
    }
    opt = &sub->options[c - CLI_OPT_VAL(0)];
    if (!option_whole(option_text(argv), opt->name)) {
      usage_error(sub, "unknown option", option_text(argv));
      goto done;
    }
    if (option_set(sub, opt, optarg, opts) < 0) {
      fprintf(stderr, "Try '%s %s --help'.\n", CLI_PROG, sub->name);
      goto done;
    }
  }
  if (optind < argc) {
    usage_error(sub, "unexpected argument", argv[optind]);
    goto done;
  }
  rc = 0;
done:
  free(longopts);
  return rc;
}

/* ---- input helpers ---- */

/* Trim leading and trailing whitespace in place; returns the start. */
static char *trim(char *s, size_t *len) {
  size_t n = *len;

  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  while (n > 0 && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  s[n] = '\0';
  *len = n;
  return s;
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * Hex digits, any case, whitespace allowed between them, into out (at least
 * len/2 bytes).  0 and *outlen, or -1 with the reason in errstr.  `column`
 * is where `text` starts on its input line, for the message.
 */
static int hex_decode(const char *text, size_t len, size_t column, uint8_t *out,
                      size_t *outlen, char *errstr, size_t errstr_size) {
  size_t i, digits = 0;
  unsigned char c;
  int v;

  *outlen = 0;
  for (i = 0; i < len; i++) {
    c = (unsigned char)text[i];
    if (isspace(c))
      continue;
    v = hex_value(c);
    if (v < 0) {
      if (isprint(c))
        snprintf(errstr, errstr_size, "not a hex digit: '%c' at column %zu", c,
                 column + i);
      else
        snprintf(errstr, errstr_size, "not a hex digit: byte 0x%02x at column %zu", c,
                 column + i);
      return -1;
    }
    if (digits % 2 == 0)
      out[*outlen] = (uint8_t)(v << 4);
    else
      out[(*outlen)++] |= (uint8_t)v;
    digits++;
  }
  if (digits % 2) {
    snprintf(errstr, errstr_size, "odd number of hex digits (%zu)", digits);
    return -1;
  }
  return 0;
}

/* One line per error, whatever the codec put in errstr. */
static void report(const char *cmd, size_t lineno, const char *errstr) {
  char line[CLI_ERRSTR_SIZE];
  size_t i;

  snprintf(line, sizeof(line), "%s", errstr);
  for (i = 0; line[i]; i++) {
    if (line[i] == '\n' || line[i] == '\r')
      line[i] = ' ';
  }
  if (lineno)
    fprintf(stderr, "%s %s: line %zu: %s\n", CLI_PROG, cmd, lineno, line);
  else
    fprintf(stderr, "%s %s: %s\n", CLI_PROG, cmd, line);
}

/*
 * All of stdin into a malloc'd buffer (caller frees), NUL-terminated for text.
 * 0, or -1 with errstr filled.
 */
static int read_all(FILE *in, uint8_t **data, size_t *len, char *errstr, size_t errstr_size) {
  size_t cap = 0, n = 0, got;
  uint8_t *buf = NULL, *grown;
  int rc = -1;

  for (;;) {
    if (n == cap) {
      if (cap > SIZE_MAX / 4) {
        snprintf(errstr, errstr_size, "stdin is too large");
        goto out;
      }
      cap = cap ? cap * 2 : 65536;
      grown = realloc(buf, cap + 1);
      if (!grown) {
        snprintf(errstr, errstr_size, "out of memory reading stdin");
        goto out;
      }
      buf = grown;
    }
    got = fread(buf + n, 1, cap - n, in);
    n += got;
    if (got == 0) {
      if (ferror(in)) {
        snprintf(errstr, errstr_size, "reading stdin: %s", strerror(errno));
        goto out;
      }
      break;
    }
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  return rc;
}

/* Flush stdout and report a write error (a full disk, a closed pipe). */
static int finish_output(const char *cmd) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "%s %s: writing stdout: %s\n", CLI_PROG, cmd, strerror(errno));
    return -1;
  }
  return 0;
}

/*
 * Feed stdin to `handle`, the one input loop of decode and encode: with
 * per_line, each non-blank line (trimmed; `column` is where its text starts,
 * 1-based), flushing stdout after each so a live feed shows each result;
 * otherwise all of stdin as one input (line number 0 in errors).  A failing
 * input is reported and the next one still handled.  Returns the exit status.
 */
typedef int (*cli_input_fn)(void *ctx, const char *text, size_t len, size_t column,
                            char *errstr, size_t errstr_size);

static int cli_each_input(const cli_subcommand_t *sub, int per_line, cli_input_fn handle,
                          void *ctx) {
  char errstr[CLI_ERRSTR_SIZE];
  char *line = NULL, *text;
  uint8_t *all = NULL;
  size_t cap = 0, lineno = 0, len;
  ssize_t got;
  int failed = 0;

  if (!per_line) {
    if (read_all(stdin, &all, &len, errstr, sizeof(errstr)) < 0 ||
        handle(ctx, (const char *)all, len, 0, errstr, sizeof(errstr)) < 0) {
      report(sub->name, 0, errstr);
      failed = 1;
    }
    goto out;
  }
  while ((got = getline(&line, &cap, stdin)) >= 0) {
    lineno++;
    len = (size_t)got;
    text = trim(line, &len);
    if (len == 0)
      continue;
    if (handle(ctx, text, len, (size_t)(text - line) + 1, errstr, sizeof(errstr)) < 0) {
      report(sub->name, lineno, errstr);
      failed = 1;
    }
    fflush(stdout);
  }
  if (ferror(stdin)) {
    fprintf(stderr, "%s %s: reading stdin: %s\n", CLI_PROG, sub->name, strerror(errno));
    failed = 1;
  }
out:
  free(line);
  free(all);
  if (finish_output(sub->name) < 0)
    failed = 1;
  return failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* ---- decode ---- */

typedef char *(*decode_render_fn)(const Message *msg);

static char *render_json(const Message *msg) {
  return codec_json_print(msg);
}

static char *render_text(const Message *msg) {
  return codec_text_print(&msg->base, 1);
}

static char *render_line(const Message *msg) {
  return codec_text_print(&msg->base, 0);
}

/* Output formats of decode: name and help (for --format) and how to render. */
static const struct decode_format {
  cli_choice_t choice;
  decode_render_fn render;
  const char *after; /* printed after each rendering */
} decode_formats[] = {
  {{"json", "one compact proto3 JSON object per line"}, render_json, "\n"},
  {{"text", "spec-style trace, one field per line; a blank line after each"}, render_text,
   "\n\n"},
  {{"line", "spec-style trace, one message per line"}, render_line, "\n"},
  {{NULL, NULL}, NULL, NULL},
};

typedef struct decode_opts {
  int hex;
  int noframing;
  int format; /* index into decode_formats */
  size_t max_payload;
} decode_opts_t;

static const cli_option_t decode_options[] = {
  {"hex", CLI_OPT_FLAG, NULL, offsetof(decode_opts_t, hex),
   "read one payload per line as hex (default: all of stdin is one binary payload)", NULL, 0},
  {"noframing", CLI_OPT_FLAG, NULL, offsetof(decode_opts_t, noframing),
   "payloads are bare protobuf (subprotocol openapinoframing), no 00 00 00 01 header", NULL,
   0},
  {"format", CLI_OPT_CHOICE, "FORMAT", offsetof(decode_opts_t, format), "output format:",
   &decode_formats[0].choice, sizeof(decode_formats[0])},
  {"max-payload", CLI_OPT_SIZE, "N", offsetof(decode_opts_t, max_payload),
   "refuse protobuf payloads over N bytes (0: the default, 1 MiB)", NULL, 0},
  {NULL, 0, NULL, 0, NULL, NULL, 0},
};

/* Decode one payload and print it; 0, or -1 with errstr filled. */
static int decode_payload(const decode_opts_t *opts, const uint8_t *buf, size_t len,
                          char *errstr, size_t errstr_size) {
  const struct decode_format *format = &decode_formats[opts->format];
  Message *msg = NULL;
  char *out = NULL;
  int rc = -1;

  if (codec_frame_decode(buf, len, opts->noframing ? CODEC_FRAMING_NONE : CODEC_FRAMING_OPENAPI,
                         opts->max_payload, &msg, errstr, errstr_size) < 0)
    goto out;
  out = format->render(msg);
  if (!out) {
    snprintf(errstr, errstr_size, "out of memory rendering the message");
    goto out;
  }
  fputs(out, stdout);
  fputs(format->after, stdout);
  rc = 0;
out:
  free(out);
  codec_message_free(msg);
  return rc;
}

/* One decode input: hex text of a line (--hex) or the raw bytes of stdin. */
static int decode_input(void *vopts, const char *text, size_t len, size_t column, char *errstr,
                        size_t errstr_size) {
  const decode_opts_t *opts = vopts;
  uint8_t *payload;
  size_t plen;
  int rc;

  if (!opts->hex)
    return decode_payload(opts, (const uint8_t *)text, len, errstr, errstr_size);
  payload = malloc(len / 2 + 1);
  if (!payload) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  rc = hex_decode(text, len, column, payload, &plen, errstr, errstr_size) < 0
           ? -1
           : decode_payload(opts, payload, plen, errstr, errstr_size);
  free(payload);
  return rc;
}

static int decode_run(const cli_subcommand_t *sub, int argc, char **argv) {
  decode_opts_t opts = {0, 0, 0, 0};
  int rc = cli_parse_options(sub, argc, argv, &opts);

  if (rc != 0)
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  /* Without --hex all of stdin is read, even past --max-payload, so that the
   * codec names the true size. */
  return cli_each_input(sub, opts.hex, decode_input, &opts);
}

/* ---- encode ---- */

typedef struct encode_opts {
  int hex;
  int noframing;
  size_t max_payload;
} encode_opts_t;

static const cli_option_t encode_options[] = {
  {"hex", CLI_OPT_FLAG, NULL, offsetof(encode_opts_t, hex),
   "read one JSON Message per line, print each payload as a line of hex "
   "(default: all of stdin is one JSON Message, written as raw bytes)", NULL, 0},
  {"noframing", CLI_OPT_FLAG, NULL, offsetof(encode_opts_t, noframing),
   "write bare protobuf (subprotocol openapinoframing), no 00 00 00 01 header", NULL, 0},
  {"max-payload", CLI_OPT_SIZE, "N", offsetof(encode_opts_t, max_payload),
   "refuse protobuf payloads over N bytes (0: the default, 1 MiB)", NULL, 0},
  {NULL, 0, NULL, 0, NULL, NULL, 0},
};

/* Encode one JSON Message and write the payload; 0, or -1 with errstr filled. */
static int encode_json(const encode_opts_t *opts, const char *text, size_t len, char *errstr,
                       size_t errstr_size) {
  static const char digits[] = "0123456789abcdef";
  Message *msg = NULL;
  uint8_t *alloc = NULL;
  size_t plen, i;
  int rc = -1;

  if (codec_json_parse(text, len, &msg, errstr, errstr_size) < 0)
    goto out;
  if (codec_frame_encode(msg, opts->noframing ? CODEC_FRAMING_NONE : CODEC_FRAMING_OPENAPI,
                         opts->max_payload, 0, &alloc, &plen, errstr, errstr_size) < 0)
    goto out;
  if (opts->hex) {
    for (i = 0; i < plen; i++) {
      putchar(digits[alloc[i] >> 4]);
      putchar(digits[alloc[i] & 0x0f]);
    }
    putchar('\n');
  } else {
    fwrite(alloc, 1, plen, stdout);
  }
  rc = 0;
out:
  free(alloc);
  codec_message_free(msg);
  return rc;
}

static int encode_input(void *vopts, const char *text, size_t len, size_t column,
                        char *errstr, size_t errstr_size) {
  return encode_json(vopts, text, len, errstr, errstr_size);
}

static int encode_run(const cli_subcommand_t *sub, int argc, char **argv) {
  encode_opts_t opts = {0, 0, 0};
  int rc = cli_parse_options(sub, argc, argv, &opts);

  if (rc != 0)
    return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  return cli_each_input(sub, opts.hex, encode_input, &opts);
}

/* ---- help, and the table of subcommands ---- */

static int help_run(const cli_subcommand_t *sub, int argc, char **argv);

static const cli_option_t no_options[] = {{NULL, 0, NULL, 0, NULL, NULL, 0}};

static const cli_subcommand_t cli_subcommands[] = {
  {"decode", "", "Decode MTCTI3 websocket payloads to JSON or spec-style text.",
   "Reads payloads from stdin: with --hex one payload per line as hex digits (spaces\n"
   "between bytes and blank lines are fine), otherwise all of stdin as one binary\n"
   "payload.  Prints each decoded Message to stdout, in input order.  A payload that\n"
   "cannot be decoded gives one line on stderr naming its input line; the rest are\n"
   "still decoded, and the exit status is 1.",
   decode_options, decode_run},
  {"encode", "", "Encode JSON Messages (proto3 JSON) as MTCTI3 websocket payloads.",
   "With --hex reads one JSON Message per line (blank lines skipped) and prints each\n"
   "payload as one line of lowercase hex.  Without --hex reads all of stdin as one\n"
   "JSON Message (it may span lines) and writes the payload's raw bytes.  A message\n"
   "that cannot be encoded gives one line on stderr naming its input line; the rest\n"
   "are still encoded, and the exit status is 1.",
   encode_options, encode_run},
#ifdef MTCTI3_CLI_COMMAND
  {"command", "[JSON | -]", "Send one command to the bridge through Kafka and print its result.",
   "Sends one command (the JSON operand, stdin for '-', or built from --action and the\n"
   "other flags) to <prefix>commands and waits for its result on\n"
   "<prefix>command-results (or --reply-to), or on its Redis channel with --redis.\n"
   "Prints the result JSON.  Exit status: 0 succeeded, 1 another outcome or an error,\n"
   "2 bad usage or a command the bridge would refuse, 3 no result in time.\n"
   "-X PROP=VALUE passes a librdkafka property through.  See docs/commands.md.",
   cli_command_options, cli_command_run},
#endif
  {"help", "[COMMAND]", "Show the commands, or one command's options.",
   "mtcti3 help [COMMAND] is the same as mtcti3 --help or mtcti3 COMMAND --help.",
   no_options, help_run},
};

#define CLI_N_SUBCOMMANDS (sizeof(cli_subcommands) / sizeof(cli_subcommands[0]))

static const cli_subcommand_t *subcommand_find(const char *name) {
  size_t i;

  for (i = 0; i < CLI_N_SUBCOMMANDS; i++) {
    if (strcmp(cli_subcommands[i].name, name) == 0)
      return &cli_subcommands[i];
  }
  return NULL;
}

static void main_help(FILE *out) {
  size_t i;

  fprintf(out,
          "Usage: %s COMMAND [options]\n\n"
          "Avaya IP Office MTCTI3 tool.\n\nCommands:\n",
          CLI_PROG);
  for (i = 0; i < CLI_N_SUBCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", cli_subcommands[i].name, cli_subcommands[i].summary);
  fprintf(out,
          "\nOptions:\n  --help, -h   show this help\n  --version    print the version\n\n"
          "Run '%s COMMAND --help' for a command's options.\n",
          CLI_PROG);
}

static int help_run(const cli_subcommand_t *sub, int argc, char **argv) {
  const cli_subcommand_t *which;

  if (argc < 2) {
    main_help(stdout);
    return CLI_EXIT_OK;
  }
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    cli_print_help(sub);
    return CLI_EXIT_OK;
  }
  which = argc == 2 ? subcommand_find(argv[1]) : NULL;
  if (!which) {
    usage_error(sub, argc == 2 ? "unknown command" : "unexpected argument", argv[argc - 1]);
    return CLI_EXIT_USAGE;
  }
  cli_print_help(which);
  return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
  const cli_subcommand_t *sub;

  if (argc < 2) {
    main_help(stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    main_help(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("%s %s\n", CLI_PROG, MTCTI3_VERSION);
    return CLI_EXIT_OK;
  }
  sub = subcommand_find(argv[1]);
  if (!sub) {
    fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", CLI_PROG, argv[1],
            CLI_PROG);
    return CLI_EXIT_USAGE;
  }
  return sub->run(sub, argc - 1, argv + 1);
}
