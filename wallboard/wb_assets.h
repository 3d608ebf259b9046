/*
 * wb_assets: the page's files (wallboard/web/), compiled into the binary.
 *
 * DESIGN.  embed.cmake writes wb_assets.c at build time from the files of
 * wallboard/web/ (plain HTML, CSS and JavaScript, no build step of their
 * own), so the service is one file to deploy.  Read-only data.
 */
#ifndef WB_ASSETS_H
#define WB_ASSETS_H

#include <stddef.h>

typedef struct wb_asset {
  const char *path; /* "/index.html" */
  const char *type; /* content type */
  const unsigned char *data;
  size_t len;
} wb_asset_t;

/* The asset served at `path`, or NULL. */
const wb_asset_t *wb_asset_find(const char *path);

#endif
