/* log.h: structured logging, one JSON object per line.
 *
 * The logger is created by main and passed down; there is no global logger.
 * SY_LOG checks the level before evaluating its arguments, so a disabled
 * level costs one comparison. Fields are key/value string pairs:
 *
 *   SY_LOG(lg, SY_LOG_WARN, "event dead-lettered", "event_id", id,
 *          "code", err.code);
 *
 * Safe to call from any thread (one write(2) per line). Never log secrets. */
#ifndef SY_LOG_H
#define SY_LOG_H

#include <stdio.h>

typedef enum { SY_LOG_DEBUG, SY_LOG_INFO, SY_LOG_WARN, SY_LOG_ERROR, SY_LOG_OFF } sy_log_level;

typedef struct sy_log {
    sy_log_level level; /* read-only after sy_log_init */
    int fd;             /* borrowed */
} sy_log;

/* fd is borrowed (usually 2). */
void sy_log_init(sy_log *lg, sy_log_level level, int fd);

/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int sy_log_level_parse(const char *s);

/* The pairs end with a NULL key; a NULL value is skipped. */
void sy_log_write(const sy_log *lg, sy_log_level level, const char *msg, ...);

#define SY_LOG(lg, lvl, ...)                                                                       \
    do {                                                                                           \
        if ((lg) && (lvl) >= (lg)->level)                                                          \
            sy_log_write((lg), (lvl), __VA_ARGS__, (const char *)NULL);                            \
    } while (0)

#endif
