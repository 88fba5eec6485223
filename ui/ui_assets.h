/* ui_assets.h: the web UI's files as compiled into the binary
 * (ui/embed.cmake generates the table at build time). */
#ifndef SY_UI_ASSETS_H
#define SY_UI_ASSETS_H

#include <stddef.h>

typedef struct ui_asset {
    const char *path;          /* "/index.html", relative to ui/ */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* NUL-terminated for convenience */
    size_t len;
} ui_asset;

/* Ends with an entry whose path is NULL. */
extern const ui_asset ui_assets[];

#endif
