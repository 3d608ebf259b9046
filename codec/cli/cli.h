/*
 * cli: the pieces every mtcti3 subcommand shares.
 *
 * A subcommand is one row of the table in mtcti3.c: its name, a one-line
 * summary, a longer description, the table of its options and a run function.
 * The option table drives parsing, validation and --help, so the three cannot
 * disagree.  To add a subcommand: write its options table and run function
 * (in its own file if it is large, declared here) and add a row to
 * cli_subcommands[] in mtcti3.c.
 */
#ifndef CLI_H
#define CLI_H

#include <stddef.h>

/* What an option takes, and so how it is stored at `offset` in the options struct. */
typedef enum cli_option_type {
  CLI_OPT_FLAG,   /* int, set to 1 */
  CLI_OPT_SIZE,   /* size_t, a decimal count */
  CLI_OPT_CHOICE, /* int, index of one of `choices` (the first is the default) */
  CLI_OPT_STRING  /* const char *, any text */
} cli_option_type_t;

/*
 * One value a CLI_OPT_CHOICE option may take.  The subcommand's own table of
 * choices (formats, say) starts each row with this struct, so the same table
 * that drives the behaviour drives parsing and --help.
 */
typedef struct cli_choice {
  const char *name; /* NULL ends the table */
  const char *help;
} cli_choice_t;

typedef struct cli_option {
  const char *name;       /* long name without the dashes: "max-payload" */
  cli_option_type_t type;
  const char *arg;        /* metavariable for --help ("N", "FORMAT"); NULL for flags */
  size_t offset;          /* offsetof() the field in the subcommand's options struct */
  const char *help;       /* one line */
  /* CLI_OPT_CHOICE: rows `choice_size` bytes apart, each starting with a
   * cli_choice_t; the field (an int) receives the row's index. */
  const cli_choice_t *choices;
  size_t choice_size;
} cli_option_t;

typedef struct cli_subcommand cli_subcommand_t;

struct cli_subcommand {
  const char *name;
  const char *args;         /* operands after [options] for --help ("[COMMAND]"), or "" */
  const char *summary;      /* one line, for `mtcti3 --help` */
  const char *description;  /* paragraph(s) for `mtcti3 NAME --help` */
  const cli_option_t *options; /* terminated by a row with name NULL */
  /* Runs with argv[0] the subcommand name; returns the exit status. */
  int (*run)(const cli_subcommand_t *sub, int argc, char **argv);
};

/* Exit statuses shared by all subcommands. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1 /* some input or operation failed */
#define CLI_EXIT_USAGE 2  /* bad command line */

/*
 * Parse argv[1..] against sub->options into the struct at `opts` (already
 * holding the defaults).  --help / -h prints the subcommand's help.  Returns
 * 0 to go on, 1 when help was printed (exit 0), -1 after printing a usage
 * error to stderr (exit 2).  Operands are refused; a subcommand that takes
 * some reads them itself before calling this.
 */
int cli_parse_options(const cli_subcommand_t *sub, int argc, char **argv, void *opts);

/* The subcommand's help text on stdout. */
void cli_print_help(const cli_subcommand_t *sub);

#ifdef MTCTI3_CLI_COMMAND
/* `mtcti3 command` (bridge/commands/cli_command.c), built when Kafka and Redis clients are found. */
extern const cli_option_t cli_command_options[];
int cli_command_run(const cli_subcommand_t *sub, int argc, char **argv);
#endif

#endif
