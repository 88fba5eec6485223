/* config.h: the configuration of `switchyard serve` (router/README.md).
 *
 * A YAML file (libyaml) parsed once into a read-only router_config, then
 * SWITCHYARD_* environment overrides on top, then validated. Every error is
 * "file:line:col: message" (or "env SWITCHYARD_X: message"); an unknown key
 * is an error, never ignored, so a typo cannot silently fall back to a
 * default. Secrets (passwords, tokens, seeds) are never in the file or argv:
 * the config names files that hold them, read only when connecting.
 *
 * Shape (every key optional unless marked; durations like 250ms, 30s, 5m,
 * 1h, 7d; sizes in bytes or with KiB/MiB/GiB):
 *
 *   nats:      urls [list, default nats://127.0.0.1:4222], credentials_file,
 *              nkey_seed_file, nkey_public, user, password_file, token_file,
 *              tls: { enabled, ca_file, cert_file, key_file }, name
 *   postgres:  conninfo (required), password_file, passfile, schema, migrate
 *   stream:    name [EVENTS], subjects [events.>], create [true],
 *              storage [file|memory], max_age, duplicate_window,
 *              outcomes_name [SY], outcomes_subjects [sy.>] (the stream the
 *              outbox relay publishes into and workers report to; created
 *              with the events stream when absent)
 *   consumer:  name [switchyard], pipelines [2], batch_size [256],
 *              fetch_wait [1s], ack_wait [30s], max_deliver [10],
 *              backoff [list of durations], nak_delay [2s],
 *              in_progress_every [10s], order [true] (the events of one
 *              workflow in stream order across pipelines and processes),
 *              order_max_hold [5m]
 *   limits:    max_event_bytes [1MiB], max_input_bytes [256KiB],
 *              max_ack_pending [20000]
 *   envelope:  schemas_dir, require_schema, keyring, require_signature,
 *              max_clock_skew [5m]
 *   rules:     path (required), unmatched [ack|dead_letter]
 *   engine:    namespace [default], outbox_relay [true], timers [true],
 *              reports [true] (the worker-report consumer),
 *              subject_prefix [sy] (first token of outcome and report subjects),
 *              report_consumers [2] (threads applying worker reports),
 *              hold_started [250ms] (a task.started the claim check answered
 *              "run" waits this long for its task's next report, to be
 *              written with it; 0 writes each at once),
 *              report_linger [10ms] (fetched reports wait this long for more
 *              before one transaction applies them; 0: none),
 *              state_cache [4096] (running workflows whose state is kept in
 *              memory: about 1 KiB each; 0 turns the cache off)
 *   admin:     listen [127.0.0.1:8088], token_file
 *   ui:        enabled [true] (the web UI at /ui/ and the HTTP API at
 *              /api/v1/, docs/http-api.md), read_token_file (reads need
 *              this token or the admin token; default: reads are open),
 *              trace_url (a link per trace id, "{trace_id}" replaced),
 *              max_body [64KiB] (request bodies of the API)
 *   log:       level [info|debug|warn|error|off]
 *
 * Environment overrides: SWITCHYARD_<SECTION>_<KEY> (e.g.
 * SWITCHYARD_CONSUMER_BATCH_SIZE=512, SWITCHYARD_NATS_URLS=a,b) and the
 * short forms SWITCHYARD_NATS_URL, SWITCHYARD_DB, SWITCHYARD_RULES,
 * SWITCHYARD_LOG_LEVEL. Other SWITCHYARD_* variables are not ours and are
 * ignored. Relative paths in the file are relative to the file's folder.
 * A path may start with ${CREDENTIALS_DIRECTORY}/ (or $CREDENTIALS_DIRECTORY/):
 * the directory where systemd puts a unit's LoadCredential= secrets (and
 * where the Helm chart mounts its Secret); it is expanded from the
 * environment by router_config_apply_env, and is an error when unset. */
#ifndef SY_ROUTER_CONFIG_H
#define SY_ROUTER_CONFIG_H

#include "log.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct router_strlist {
    char **items; /* owned */
    size_t len;
} router_strlist;

typedef struct router_durlist {
    int64_t *items; /* owned, milliseconds */
    size_t len;
} router_durlist;

typedef enum { ROUTER_STORAGE_FILE, ROUTER_STORAGE_MEMORY } router_storage;

/* Every string is owned by the config (router_config_cleanup); NULL when
 * absent. Read-only after router_config_load; shared by threads. */
typedef struct router_config {
    char *source; /* the file it came from ("" when built in memory) */
    /* nats */
    router_strlist nats_urls;
    char *nats_credentials_file, *nats_nkey_seed_file, *nats_nkey_public;
    char *nats_user, *nats_password_file, *nats_token_file, *nats_name;
    bool nats_tls;
    char *nats_tls_ca_file, *nats_tls_cert_file, *nats_tls_key_file;
    /* postgres */
    char *pg_conninfo; /* without secrets: safe to log */
    char *pg_password_file, *pg_passfile, *pg_schema;
    bool pg_migrate;
    /* stream */
    char *stream_name;
    router_strlist stream_subjects;
    bool stream_create;
    int stream_storage; /* router_storage */
    int64_t stream_max_age_ms, stream_duplicate_window_ms;
    char *outcomes_stream;            /* the stream of outcome events and reports */
    router_strlist outcomes_subjects;
    /* consumer */
    char *consumer_name;
    int64_t pipelines, batch_size, max_deliver;
    int64_t fetch_wait_ms, ack_wait_ms, nak_delay_ms, in_progress_every_ms;
    bool order;                /* events of one workflow in stream order (router/order.h) */
    int64_t order_max_hold_ms; /* an event held longer is applied anyway (logged, counted) */
    router_durlist backoff;
    /* limits */
    int64_t max_event_bytes, max_input_bytes, max_ack_pending;
    /* envelope */
    char *schemas_dir, *keyring;
    bool require_schema, require_signature;
    int64_t max_clock_skew_ms;
    /* rules */
    char *rules_path;
    int unmatched_dead_letter; /* 0 ack, 1 dead_letter */
    /* engine */
    char *engine_namespace;
    char *engine_subject_prefix;      /* NULL: "sy" */
    int64_t report_consumers;         /* report consumer threads on the one durable */
    int64_t hold_started_ms;          /* a task.started's hold (engine/reports.h); 0: none,
                                         -1: not set (the engine's default) */
    int64_t report_linger_ms;         /* fetched reports wait for more (engine/reports.h);
                                         0: none, -1: not set (the engine's default) */
    int64_t state_cache;              /* running workflows kept in memory; 0: none */
    bool outbox_relay, timers, reports;
    /* admin */
    char *admin_listen, *admin_token_file;
    /* ui */
    bool ui_enabled;
    char *ui_read_token_file, *ui_trace_url;
    int64_t ui_max_body;
    /* log */
    int log_level; /* sy_log_level */
} router_config;

/* Fills *cfg with the defaults above (postgres.conninfo and rules.path
 * stay NULL). Call router_config_cleanup afterwards. */
void router_config_init(router_config *cfg);
void router_config_cleanup(router_config *cfg);

/* Parses 'len' bytes of YAML at 'text' (not retained) onto *cfg (which
 * router_config_init prepared). 'name' labels errors and anchors relative
 * paths (its folder). SY_CONFIG with err->path "name:line:col" and the
 * message; on failure *cfg may hold some parsed values: clean it up and do
 * not use it (never half-applied: callers discard the whole struct). */
sy_status router_config_parse(router_config *cfg, const char *name, const char *text, size_t len,
                              sy_error *err) SY_MUST_USE;

/* Applies SWITCHYARD_* overrides from envp (a NULL-terminated
 * "KEY=VALUE" array, e.g. environ; borrowed), then expands
 * ${CREDENTIALS_DIRECTORY}/ in path settings from envp. SY_CONFIG on a bad
 * value with err->path "env SWITCHYARD_X", or with the section when a path
 * names $CREDENTIALS_DIRECTORY and envp has no absolute one. */
sy_status router_config_apply_env(router_config *cfg, char *const *envp, sy_error *err) SY_MUST_USE;

/* Checks required settings and their consistency (e.g. one NATS auth method
 * at most, readable secret files). SY_CONFIG with the setting's path. */
sy_status router_config_validate(const router_config *cfg, sy_error *err) SY_MUST_USE;

/* Reads 'path', parses, applies envp (may be NULL) and validates. SY_OK:
 * *cfg is ready (cleanup when done); otherwise *cfg is cleaned up. */
sy_status router_config_load(router_config *cfg, const char *path, char *const *envp,
                             sy_error *err) SY_MUST_USE;

/* The conninfo to connect with: postgres.conninfo plus the password read
 * from password_file, or passfile=... . *out owned (free(); it may hold a
 * secret: wipe and never log it). SY_CONFIG when the file is unreadable. */
sy_status router_config_pg_conninfo(const router_config *cfg, char **out, sy_error *err) SY_MUST_USE;

/* Reads a secret file (first line, trailing whitespace removed). *out
 * owned; the caller wipes it (sodium_memzero or explicit_bzero). */
sy_status router_config_read_secret(const char *path, char **out, sy_error *err) SY_MUST_USE;

/* Writes a human description of the effective settings (no secrets) to
 * buf; for `serve --check-config`. */
struct sy_buf;
void router_config_describe(const router_config *cfg, struct sy_buf *buf);

#endif
