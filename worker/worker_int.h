/* worker_int.h: shared between worker/worker*.c only (see worker.h).
 *
 * worker_exec.c runs one command to its end: spawn in a process group of its
 * own, feed stdin, collect stdout and a tail of stderr, and kill the group
 * on timeout, cancel or hand-back. worker.c decides what to report. */
#ifndef SY_WORKER_INT_H
#define SY_WORKER_INT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER__STDERR_TAIL 2048

typedef enum {
    WORKER__GO,           /* keep running */
    WORKER__KILL_CANCEL,  /* the workflow or task was canceled */
    WORKER__KILL_HANDBACK /* we are stopping: give the task back */
} worker__verdict;

typedef enum {
    WORKER__EXITED,      /* the command ended by itself: see status */
    WORKER__TIMED_OUT,   /* killed at its deadline */
    WORKER__CANCELED,    /* killed on cancel */
    WORKER__HANDED_BACK, /* killed on hand-back */
    WORKER__TOO_MUCH,    /* killed: stdout over max_output */
    WORKER__SPAWN_FAILED /* never started: see spawn_errno */
} worker__end;

/* Called about every 100 ms while the command runs (on the task's thread). */
typedef worker__verdict (*worker__tick_fn)(void *ctx);

typedef struct worker__exec_spec {
    char *const *argv; /* borrowed */
    char *const *envp; /* borrowed */
    const char *input; /* written to stdin, then stdin is closed */
    size_t input_len;
    int64_t timeout_ms; /* 0: none */
    size_t max_output;
    worker__tick_fn tick;
    void *ctx;
} worker__exec_spec;

typedef struct worker__exec_result {
    worker__end end;
    int status; /* waitpid status when end == WORKER__EXITED */
    int spawn_errno;
    sy_buf out; /* stdout (owned: sy_buf_cleanup) */
    sy_buf err; /* the last WORKER__STDERR_TAIL bytes of stderr (owned) */
} worker__exec_result;

/* Runs the command to its end; r is initialised here. Thread-safe. */
void worker__exec(const worker__exec_spec *spec, worker__exec_result *r);

/* Appends s (len bytes) to b as a JSON-safe UTF-8 string body: invalid
 * UTF-8 bytes become U+FFFD, so the report always parses. */
void worker__utf8_clean(sy_buf *b, const char *s, size_t len);

#endif
