/* Value checks of the configuration parser (conf.c); each returns false for
 * a value that is not exactly of its syntax and leaves *out_r alone then. */
#ifndef POSTERN_CONF_VALUE_H
#define POSTERN_CONF_VALUE_H

#include <stdbool.h>

bool conf_parse_unsigned(const char *value, unsigned max, unsigned *out_r);
/* A duration (conf_parse_duration_ms) that fits in an unsigned. */
bool conf_parse_ms(const char *value, unsigned *out_r);
/* yes/no, true/false, on/off, 1/0. */
bool conf_parse_bool(const char *value, bool *out_r);
/* Letters, digits, '-' and '.', 1 to 253 octets. */
bool conf_valid_hostname(const char *s);
/* "host", "host:port", "[host-or-address]:port", "[IPv6]:port". */
bool conf_valid_smarthost(const char *s);

#endif
