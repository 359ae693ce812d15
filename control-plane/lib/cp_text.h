#ifndef CP_TEXT_H
#define CP_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Text that crosses a boundary: what operators and partners type into the
 * registry (well-formed UTF-8, no control characters), and what goes out
 * to a terminal or a spreadsheet (escaped so it cannot act as a terminal
 * command or a formula).  Pure: no registry, no I/O but the FILE given.
 */

/* The code point of the UTF-8 sequence at s (n bytes available) into cp:
 * its length 1..4, or 0 when it is not well formed (RFC 3629: truncated,
 * a stray continuation byte, an overlong form, a surrogate, or a code
 * point above U+10FFFF). */
size_t cp_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Is s[0..n) well-formed UTF-8?  When not, *bad is the first bad byte's
 * offset (if bad is not NULL). */
int cp_utf8_valid(const char *s, size_t n, size_t *bad);

/* cp_text_check() results and flags */
#define CP_TEXT_OK       0
#define CP_TEXT_UTF8    -1          /* not well-formed UTF-8 */
#define CP_TEXT_CONTROL -2          /* a control character */
#define CP_TEXT_LINES    1          /* a newline (LF) is allowed; CR is not */

/* Well-formed UTF-8 without control characters -- C0 but tab, DEL, C1
 * (a terminal acts on each; a newline would forge lines in tables and
 * logs).  *bad as for cp_utf8_valid. */
int cp_text_check(const char *s, size_t n, int flags, size_t *bad);

/* The offset of the first NUL a JSON text would hide, or -1: a NUL byte
 * anywhere (no JSON text holds one), or a \u0000 escape in a string (an
 * escaped backslash before "u0000" is none).  cJSON ends its C strings
 * there, so "a\u0000b" would pass as "a" with the rest unseen. */
long cp_json_nul(const char *text, size_t len);

/* s[0..n) to out with each byte of a malformed sequence as U+FFFD, as a
 * reader of text does (Unicode §3.9): text stored before lgspctl refused
 * such bytes still gives a valid JSON document. */
void cp_utf8_write(FILE *out, const char *s, size_t n);

/* s[0..n) for a terminal, into out (size bytes, NUL-terminated): every
 * control character and every byte of a malformed sequence as \xNN, a
 * backslash as \\, the rest as is; cut at a whole character, ending in
 * "...", when it does not fit (size >= 4).  A partner's file cannot move
 * the cursor, recolour or retitle the operator's terminal. */
void cp_term_escape(char *out, size_t size, const char *s, size_t n);

/* s as one CSV field (RFC 4180): quoted, quotes doubled; a field that
 * begins with = + - @, tab or CR gets a single quote first, so that a
 * spreadsheet shows it and does not run it as a formula (OWASP, "CSV
 * Injection"). */
void cp_csv_write(FILE *out, const char *s, size_t n);

#endif /* CP_TEXT_H */
