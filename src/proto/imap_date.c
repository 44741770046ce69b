/*
 * imap_date: IMAP dates and date-times and the RFC 5322 Date: field.
 * Calendar arithmetic by day numbers (H. Hinnant's days_from_civil), so
 * nothing depends on the process's time zone or locale.
 */
#include "proto/imap_date.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t imap_day_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void imap_day_to_civil(int64_t days, int *year_r, int *month_r, int *day_r)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year_r = (int)(yoe + era * 400 + (m <= 2));
    *month_r = (int)m;
    *day_r = (int)d;
}

/* Floor division: instants before 1970 belong to earlier days. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t imap_day_of(time_t t, int tz_minutes)
{
    return floor_div((int64_t)t + (int64_t)tz_minutes * 60, 86400);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* A month name at s (3 letters, any case): 1..12, or 0. */
static int month_at(const char *s, size_t len)
{
    if (len < 3)
        return 0;
    for (int m = 0; m < 12; m++)
        if (lower(s[0]) == lower(month_names[m][0]) && lower(s[1]) == month_names[m][1] &&
            lower(s[2]) == month_names[m][2])
            return m + 1;
    return 0;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly n digits at s[*i]; the value in *v. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *v)
{
    int x = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || !digit(s[*i]))
            return false;
        x = x * 10 + (s[(*i)++] - '0');
    }
    *v = x;
    return true;
}

/* 1 or 2 digits, then sep. */
static bool day_digits(const char *s, size_t len, size_t *i, int *v)
{
    if (!digits(s, len, i, 1, v))
        return false;
    if (*i < len && digit(s[*i]))
        *v = *v * 10 + (s[(*i)++] - '0');
    return true;
}

/* "-Mon-YYYY" after the day; checks that the day exists. */
static bool month_year(const char *s, size_t len, size_t *i, int day, int64_t *day_r)
{
    int month, year;
    if (*i >= len || s[*i] != '-')
        return false;
    (*i)++;
    month = month_at(s + *i, len - *i);
    if (month == 0)
        return false;
    *i += 3;
    if (*i >= len || s[*i] != '-')
        return false;
    (*i)++;
    if (!digits(s, len, i, 4, &year))
        return false;
    if (day < 1 || day > month_days(year, month))
        return false;
    *day_r = imap_day_from_civil(year, month, day);
    return true;
}

bool imap_date_parse(const char *s, size_t len, int64_t *day_r)
{
    size_t i = 0;
    int day;
    if (!day_digits(s, len, &i, &day))
        return false;
    return month_year(s, len, &i, day, day_r) && i == len;
}

void imap_date_format(int64_t day, char *out)
{
    int y, m, d;
    imap_day_to_civil(day, &y, &m, &d);
    snprintf(out, IMAP_DATE_LEN + 1, "%02d-%s-%04d", d, month_names[m - 1], y % 10000);
}

/* "HH:MM:SS" or, when seconds_optional, "HH:MM". */
static bool clock_time(const char *s, size_t len, size_t *i, bool seconds_optional, int *secs_r)
{
    int h, m, sec = 0;
    if (!digits(s, len, i, 2, &h) || *i >= len || s[*i] != ':')
        return false;
    (*i)++;
    if (!digits(s, len, i, 2, &m))
        return false;
    if (*i < len && s[*i] == ':') {
        (*i)++;
        if (!digits(s, len, i, 2, &sec))
            return false;
    } else if (!seconds_optional) {
        return false;
    }
    if (h > 23 || m > 59 || sec > 60)
        return false;
    if (sec == 60) /* a leap second: the instant is the one before */
        sec = 59;
    *secs_r = h * 3600 + m * 60 + sec;
    return true;
}

/* "+HHMM" / "-HHMM". */
static bool numeric_zone(const char *s, size_t len, size_t *i, int *tz_r)
{
    int v;
    if (*i >= len || (s[*i] != '+' && s[*i] != '-'))
        return false;
    int sign = s[(*i)++] == '-' ? -1 : 1;
    if (!digits(s, len, i, 4, &v) || v % 100 > 59 || v / 100 > 23)
        return false;
    *tz_r = sign * (v / 100 * 60 + v % 100);
    return true;
}

bool imap_datetime_parse(const char *s, size_t len, time_t *when_r, int *tz_r)
{
    size_t i = 0;
    int day, secs, tz;
    int64_t dayno;
    if (i < len && s[i] == ' ')
        i++;
    if (!day_digits(s, len, &i, &day) || !month_year(s, len, &i, day, &dayno))
        return false;
    if (i >= len || s[i++] != ' ' || !clock_time(s, len, &i, false, &secs))
        return false;
    if (i >= len || s[i++] != ' ' || !numeric_zone(s, len, &i, &tz) || i != len)
        return false;
    *when_r = (time_t)(dayno * 86400 + secs - (int64_t)tz * 60);
    *tz_r = tz;
    return true;
}

void imap_datetime_format(time_t when, int tz_minutes, char *out)
{
    int64_t local = (int64_t)when + (int64_t)tz_minutes * 60;
    int64_t day = floor_div(local, 86400);
    int64_t secs = local - day * 86400;
    int y, m, d;
    int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
    imap_day_to_civil(day, &y, &m, &d);
    snprintf(out, IMAP_DATETIME_LEN + 1, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", d,
             month_names[m - 1], y % 10000, (int)(secs / 3600), (int)(secs / 60 % 60),
             (int)(secs % 60), tz_minutes < 0 ? '-' : '+', a / 60 % 100, a % 60);
}

/* Skips folding white space and comments (nested, with quoted-pairs). */
static void skip_cfws(const char *s, size_t len, size_t *i)
{
    while (*i < len) {
        char c = s[*i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            (*i)++;
        } else if (c == '(') {
            int depth = 0;
            while (*i < len) {
                c = s[(*i)++];
                if (c == '\\' && *i < len)
                    (*i)++;
                else if (c == '(')
                    depth++;
                else if (c == ')' && --depth == 0)
                    break;
            }
        } else {
            return;
        }
    }
}

static bool alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The obsolete zones of RFC 5322 4.3, in minutes. */
static bool alpha_zone(const char *s, size_t n, int *tz_r)
{
    static const struct {
        const char *name;
        int tz;
    } zones[] = {{"UT", 0},        {"GMT", 0},       {"EST", -5 * 60}, {"EDT", -4 * 60},
                 {"CST", -6 * 60}, {"CDT", -5 * 60}, {"MST", -7 * 60}, {"MDT", -6 * 60},
                 {"PST", -8 * 60}, {"PDT", -7 * 60}, {"Z", 0}};
    for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++)
        if (strlen(zones[k].name) == n && strncasecmp(zones[k].name, s, n) == 0) {
            *tz_r = zones[k].tz;
            return true;
        }
    /* Other military zones: RFC 5322 says to take them as -0000. */
    *tz_r = 0;
    return n == 1;
}

bool imap_rfc5322_date_parse(const char *s, size_t len, time_t *when_r, int *tz_r)
{
    size_t i = 0;
    int day, year, secs, tz = 0;
    skip_cfws(s, len, &i);
    /* An optional day of week: letters and a comma. */
    if (i < len && alpha(s[i])) {
        while (i < len && alpha(s[i]))
            i++;
        skip_cfws(s, len, &i);
        if (i >= len || s[i] != ',')
            return false;
        i++;
        skip_cfws(s, len, &i);
    }
    if (!day_digits(s, len, &i, &day))
        return false;
    skip_cfws(s, len, &i);
    int month = month_at(s + i, len - i);
    if (month == 0)
        return false;
    i += 3;
    while (i < len && alpha(s[i])) /* "June", "September" */
        i++;
    skip_cfws(s, len, &i);
    size_t y0 = i;
    year = 0;
    while (i < len && digit(s[i]) && i - y0 < 5)
        year = year * 10 + (s[i++] - '0');
    size_t ny = i - y0;
    if (ny < 2 || ny > 4 || (i < len && digit(s[i])))
        return false;
    if (ny == 2)
        year += year < 50 ? 2000 : 1900;
    else if (ny == 3)
        year += 1900;
    if (day < 1 || day > month_days(year, month))
        return false;
    skip_cfws(s, len, &i);
    if (!clock_time(s, len, &i, true, &secs))
        return false;
    skip_cfws(s, len, &i);
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        if (!numeric_zone(s, len, &i, &tz))
            return false;
    } else if (i < len && alpha(s[i])) {
        size_t z0 = i;
        while (i < len && alpha(s[i]))
            i++;
        if (!alpha_zone(s + z0, i - z0, &tz))
            return false;
    }
    skip_cfws(s, len, &i);
    if (i != len)
        return false;
    *when_r = (time_t)(imap_day_from_civil(year, month, day) * 86400 + secs - (int64_t)tz * 60);
    *tz_r = tz;
    return true;
}
