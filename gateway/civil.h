/* civil.h -- calendar arithmetic (proleptic Gregorian, UTC) and RFC 3339 times. Pure. */
#ifndef HOOKGATE_CIVIL_H
#define HOOKGATE_CIVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool civil_is_leap(int64_t year);
/* Days in month (1..12) of year. */
int civil_days_in_month(int64_t year, int month);
/* Days since 1970-01-01 of a date, and back. */
int64_t civil_days_from_date(int64_t year, int month, int day);
void civil_date_from_days(int64_t days, int64_t *year, int *month, int *day);
/* Reads exactly n decimal digits at *p (not past end), advancing *p; -1 if one is missing. */
int civil_digits(const char **p, const char *end, int n);

/* Parses an RFC 3339 date-time (section 5.6: "T" or "t", seconds up to 60, an optional
 * fraction, "Z"/"z" or a +hh:mm/-hh:mm offset, in-range fields). Returns false when s is
 * not one. Otherwise, when unix_ms is not NULL, stores the instant in unix ms, a fraction
 * finer than a millisecond rounded up when round_up and down otherwise. */
bool civil_parse_rfc3339(const char *s, size_t n, bool round_up, int64_t *unix_ms);

/* Formats unix ms as RFC 3339 UTC with milliseconds ("2026-11-27T10:00:00.123Z") into out
 * (>= 25 bytes, NUL-terminated), clamped to years 0000..9999; returns the length (24). */
size_t civil_format_rfc3339(int64_t unix_ms, char *out);

#endif
