/* admin_ui.c: serves the web UI's files, embedded at build time
 * (ui/ui_assets.h), under /ui/. Pages route with the URL's fragment
 * (#/workflows/ID), so the server knows only files; everything they show
 * comes from /api/v1/. Each file has an ETag (a hash of its bytes): the
 * browser revalidates and gets 304 while the binary is the same. */
#include "admin_int.h"
#include "ui_assets.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

void admin__ui(admin_server *a, struct evhttp_request *req, const char *path)
{
    (void)a; /* the files hold no data: served without a token */
    if (strcmp(path, "/ui") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/ui/");
        admin__reply(req, 302, "text/plain", "see /ui/\n");
        return;
    }
    const char *rel = path + 3; /* after "/ui" */
    if (strcmp(rel, "/") == 0)
        rel = "/index.html";
    for (const ui_asset *f = ui_assets; f->path; f++) {
        if (strcmp(f->path, rel) != 0)
            continue;
        char etag[32];
        snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)fnv(f->data, f->len));
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "ETag", etag);
        evhttp_add_header(out, "Cache-Control", "no-cache");
        const char *inm =
            evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
        if (inm && strcmp(inm, etag) == 0) {
            admin__reply_len(req, 304, f->type, "", 0);
            return;
        }
        admin__reply_len(req, 200, f->type, (const char *)f->data, f->len);
        return;
    }
    admin__reply(req, 404, "text/plain", "not found\n");
}
