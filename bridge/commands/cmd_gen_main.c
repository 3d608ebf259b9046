/*
 * cmd_gen tool: `cmd_gen docs` prints the generated part of docs/commands.md,
 * `cmd_gen schema` prints schemas/command.schema.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_gen.h"

int main(int argc, char **argv) {
  char *text;

  if (argc == 2 && strcmp(argv[1], "docs") == 0)
    return cmd_gen_docs(stdout) == 0 ? 0 : 1;
  if (argc == 2 && strcmp(argv[1], "schema") == 0) {
    text = cmd_gen_schema_text();
    if (!text)
      return 1;
    fputs(text, stdout);
    free(text);
    return 0;
  }
  fprintf(stderr, "usage: cmd_gen docs|schema\n");
  return 2;
}
