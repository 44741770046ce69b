/*
 * imap_date: the dates of IMAP (RFC 3501 9 / RFC 9051 9), pure. A search
 * date ("1-Feb-1994", SINCE and friends), a date-time ("17-Jul-1996
 * 02:44:25 -0700", APPEND's and INTERNALDATE's), and the RFC 5322 Date:
 * header field (SENTBEFORE and friends), liberal about the obsolete forms
 * of RFC 5322 4.3. No time zone database: a time is an instant (time_t)
 * plus the offset it was written with, and a day is a day number (days
 * since 1970-01-01, proleptic Gregorian), so days compare as integers.
 */
#ifndef POSTERN_PROTO_IMAP_DATE_H
#define POSTERN_PROTO_IMAP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IMAP_DATE_LEN     11 /* "01-Feb-1994" */
#define IMAP_DATETIME_LEN 26 /* "17-Jul-1996 02:44:25 -0700" */

/* Day numbers of a civil date and back (month 1..12, any year). */
int64_t imap_day_from_civil(int year, int month, int day);
void imap_day_to_civil(int64_t days, int *year_r, int *month_r, int *day_r);
/* The day on which instant t falls at the offset tz_minutes east of UTC. */
int64_t imap_day_of(time_t t, int tz_minutes);

/* date = date-day "-" date-month "-" date-year (1 or 2 digits, a month
 * name in any case, 4 digits), the quotes already removed; the day must
 * exist ("30-Feb-2024" is false). */
bool imap_date_parse(const char *s, size_t len, int64_t *day_r);
/* "01-Feb-1994", NUL-terminated (out has IMAP_DATE_LEN + 1 octets). */
void imap_date_format(int64_t day, char *out);

/* date-time without its quotes: the day as 2 digits or SP DIGIT (one
 * digit alone is accepted too), time and zone (+/-HHMM, minutes < 60). */
bool imap_datetime_parse(const char *s, size_t len, time_t *when_r, int *tz_minutes_r);
/* "17-Jul-1996 02:44:25 -0700" (out has IMAP_DATETIME_LEN + 1 octets). */
void imap_datetime_format(time_t when, int tz_minutes, char *out);

/* An RFC 5322 date-time (a Date: field's value, unfolded or not):
 * [day-of-week ","] day month year hour ":" minute [":" second] zone, with
 * comments, 2- and 3-digit years, the alphabetic zones of RFC 5322 4.3
 * (military ones and a missing zone count as +0000). */
bool imap_rfc5322_date_parse(const char *s, size_t len, time_t *when_r, int *tz_minutes_r);

#endif
