/* admin_live.c: placeholder */
#include "admin_int.h"
void admin__live(admin_server *a, struct evhttp_request *req)
{
    (void)a;
    admin__reply(req, 503, "text/plain", "not yet\n");
}
void admin__live_tick(admin_server *a) { (void)a; }
void admin__live_free(admin_live *l) { (void)l; }
size_t admin__live_clients(const admin_server *a) { (void)a; return 0; }
