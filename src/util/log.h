/*
 * log: one line per event on stderr, as `TIME level=L key=value ...`.
 * Values that come from the network must go through log_q(), which quotes
 * and escapes them so that no input can forge a log line or a field.
 */
#ifndef POSTERN_UTIL_LOG_H
#define POSTERN_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Quoted, escaped, length-capped copy of s in a thread-local ring of
 * buffers: valid until 8 further calls on the same thread. */
const char *log_q(const char *s);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
