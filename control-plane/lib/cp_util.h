#ifndef CP_UTIL_H
#define CP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* The program name used as the prefix of every message ("lgspctl: ..."). */
extern const char *cp_progname;

/* Exit statuses shared by the CLI and the daemon (SPEC §7). */
#define CP_EXIT_OK      0
#define CP_EXIT_REFUSED 1
#define CP_EXIT_USAGE   2

/* "prog: what failed: why" on stderr. */
void cp_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cp_verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Daemon log: one line per event, to stderr or syslog. */
void cp_log_init(int use_syslog);
void cp_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int64_t cp_now_ms(void);
int64_t cp_now(void);

/* Fill buf with len cryptographically random bytes; 0 on success. */
int cp_random(void *buf, size_t len);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void cp_hex(const unsigned char *in, size_t len, char *out);

/* snprintf that reports truncation as failure (-1). */
int cp_path(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Read a whole small file into a NUL-terminated malloc'd buffer. */
char *cp_read_file(const char *path, size_t max, size_t *len_out);

/* Write a file atomically: tmp, fsync, rename, with the given mode. */
int cp_write_file_atomic(const char *path, const void *data, size_t len,
                         int mode);

#endif /* CP_UTIL_H */
