/* nats_opts.c: the options of every NATS connection the service makes (the
 * pipelines' connection in router.c, and through engine_nats_options_fn the
 * outbox relay and the worker-report consumer in loops.c): servers, name,
 * reconnect policy, credentials and TLS from the config, built in this one
 * place so that no connection forgets the credentials or the TLS settings.
 * Secrets are read from their files here, handed to nats.c and wiped. */
#include "router_int.h"

#include <stdlib.h>
#include <string.h>

static natsStatus set_auth(const router_config *c, natsOptions *o, sy_error *err)
{
    natsStatus s = NATS_OK;
    char *secret = NULL;
    if (c->nats_credentials_file)
        s = natsOptions_SetUserCredentialsFromFiles(o, c->nats_credentials_file, NULL);
    else if (c->nats_nkey_seed_file)
        s = natsOptions_SetNKeyFromSeed(o, c->nats_nkey_public, c->nats_nkey_seed_file);
    else if (c->nats_password_file || c->nats_token_file) {
        const char *f = c->nats_password_file ? c->nats_password_file : c->nats_token_file;
        if (router_config_read_secret(f, &secret, err) != SY_OK)
            return NATS_INVALID_ARG;
        s = c->nats_password_file ? natsOptions_SetUserInfo(o, c->nats_user, secret)
                                  : natsOptions_SetToken(o, secret);
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    return s;
}

static natsStatus set_tls(const router_config *c, natsOptions *o)
{
    natsStatus s = NATS_OK;
    if (c->nats_tls || c->nats_tls_ca_file || c->nats_tls_cert_file)
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && c->nats_tls_ca_file)
        s = natsOptions_LoadCATrustedCertificates(o, c->nats_tls_ca_file);
    if (s == NATS_OK && c->nats_tls_cert_file)
        s = natsOptions_LoadCertificatesChain(o, c->nats_tls_cert_file, c->nats_tls_key_file);
    return s;
}

natsOptions *router_nats_options(const router_config *c, sy_error *err)
{
    natsOptions *o = NULL;
    sy_error_clear(err);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)c->nats_urls.items, (int)c->nats_urls.len);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, c->nats_name ? c->nats_name : "switchyard");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1); /* reconnect forever; consumers are durable */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 500);
    if (s == NATS_OK)
        s = set_auth(c, o, err);
    if (s == NATS_OK)
        s = set_tls(c, o);
    if (s == NATS_OK)
        return o;
    natsOptions_Destroy(o);
    if (err->status == SY_OK)
        sy_error_set(err, SY_CONFIG, "nats", NULL, "could not set the NATS options: %s",
                     natsStatus_GetText(s));
    return NULL;
}

void *router__nats_options_fn(void *arg, sy_error *err)
{
    return router_nats_options(arg, err);
}
