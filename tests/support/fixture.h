/* fixture.h: access to the real servers of an integration test.
 *
 * `make test` runs ctest under `switchyard testenv`, which starts one
 * throwaway nats-server -js and one Postgres cluster for the whole run and
 * exports their addresses. Tests isolate themselves: each takes a fresh
 * database (fixture_pg_fresh_db) and unique stream/subject names. */
#ifndef SY_FIXTURE_H
#define SY_FIXTURE_H

#include <stddef.h>

/* nats://127.0.0.1:PORT; fails the test when not under testenv. Borrowed. */
const char *fixture_nats_url(void);

/* Connects to the test nats-server and creates memory stream 'name' over
 * 'subject'. *nc and *js are owned by the caller (jsCtx_Destroy,
 * natsConnection_Destroy). Fails the test on error. */
typedef struct __natsConnection natsConnection;
typedef struct __jsCtx jsCtx;
void fixture_js_stream(const char *name, const char *subject, natsConnection **nc, jsCtx **js);

/* Conninfo of the cluster's "postgres" database. Borrowed. */
const char *fixture_pg_admin(void);

/* Drops and creates database 'name' and returns its conninfo (owned, free()). */
char *fixture_pg_fresh_db(const char *name);

/* Path of the built switchyard binary (owned by the fixture, static). */
const char *fixture_switchyard_bin(void);

/* Path under the source tree (e.g. "examples/rules.yaml"); static buffer. */
const char *fixture_source_path(const char *rel);

/* Runs cmd through sh; returns its exit code (-1: it did not exit) and what
 * it wrote on stdout in out (at most cap - 1 bytes, NUL-terminated). The
 * shell dies with the test (fixture_fork); so does a program it runs with
 * "exec prog ...", which keeps the death signal across the exec. */
int fixture_run(const char *cmd, char *out, size_t cap);

/* fork() whose child dies with the test (PR_SET_PDEATHSIG): a server or
 * process a test starts is stopped even when a failed CHECK ends the test
 * before its own kill. Returns as fork() does; fails the test on error. */
int fixture_fork(void);

/* Reads a whole file (owned, free()); fails the test when unreadable. */
char *fixture_read_file(const char *path);

/* Writes text to path (created or truncated); fails the test on error. */
void fixture_write_file(const char *path, const char *text);

/* A new empty directory under /tmp (owned path); fixture_rm_rf removes it
 * with everything in it and frees the path. */
char *fixture_temp_dir(void);
void fixture_rm_rf(char *dir);

#endif
