#ifndef CP_VALID_H
#define CP_VALID_H

#include <stddef.h>

#include "cp_text.h"

/*
 * Shapes of what operators type (SPEC §12).  Pure: each returns 0 when the
 * value is well formed, -1 otherwise (with why, when asked, for messages).
 */

#define CP_SYSTEM_ID_MAX     64
#define CP_SERVICE_CODE_MAX  64
#define CP_VERSION_MAX       32
#define CP_URL_MAX           2048
#define CP_HEADER_MAX        8192

int cp_valid_system_id(const char *s);          /* [a-z][a-z0-9-]{1,63} */
int cp_valid_service_code(const char *s);       /* [a-z0-9][a-z0-9-]{0,63} */
int cp_valid_version(const char *s);            /* [A-Za-z0-9][A-Za-z0-9._-]{0,31} */

/* "CODE/VERSION" into code and version (sizes as above + 1); with
 * allow_bare, "CODE" alone leaves version empty. */
int cp_parse_route(const char *s, int allow_bare, char *code, char *version);

/* http:// or https:// with a host; no spaces or control characters. */
int cp_valid_url(const char *s, char *why, size_t size);

/* "GET,post" -> "GET,POST" (known methods, no duplicates), into out. */
int cp_parse_methods(const char *s, char *out, size_t size, char *why,
                     size_t wsize);

/* A non-negative integer <= max, with an optional unit suffix ("/s",
 * "/day") that is accepted or not at all. */
int cp_parse_uint(const char *s, const char *suffix, long long max,
                  long long *out);

/* An upstream credential header: one "Name: value" line (a final newline
 * is allowed), name a token and not one the gateway sets itself, value
 * non-empty printable.  buf is trimmed in place; "Name: value" into out. */
int cp_parse_upstream_header(char *buf, char *out, size_t osize, char *why,
                             size_t size);

/* A name, reason or other text that is stored and shown: 1..max bytes of
 * well-formed UTF-8 without control characters (cp_text_check; flags
 * CP_TEXT_LINES lets a longer text have newlines).  0, or -1 with why,
 * e.g. "is not valid UTF-8 (byte 4)". */
int cp_valid_text(const char *s, size_t max, int flags, char *why,
                  size_t size);

#define CP_TEXT_MAX  512

#endif /* CP_VALID_H */
