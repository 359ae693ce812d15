#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cp_util.h"

const char *cp_progname = "lgsp";
static int cp_use_syslog;

void
cp_verr(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", cp_progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void
cp_err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cp_verr(fmt, ap);
    va_end(ap);
}

void
cp_log_init(int use_syslog)
{
    cp_use_syslog = use_syslog;
    if (use_syslog) {
        openlog(cp_progname, LOG_PID, LOG_DAEMON);
    }
}

void
cp_log(const char *level, const char *fmt, ...)
{
    char       line[1024], ts[32];
    va_list    ap;
    time_t     t;
    struct tm  tm;
    int64_t    ms;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    /* one event, one line: a newline in a message would forge a second */
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }

    if (cp_use_syslog) {
        int prio = strcmp(level, "error") == 0 ? LOG_ERR
                   : strcmp(level, "warn") == 0 ? LOG_WARNING : LOG_INFO;
        syslog(prio, "%s", line);
        return;
    }

    ms = cp_now_ms();
    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03dZ %s[%d] %s: %s\n", ts, (int) (ms % 1000),
            cp_progname, (int) getpid(), level, line);
}

int64_t
cp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cp_now(void)
{
    return cp_now_ms() / 1000;
}

int
cp_random(void *buf, size_t len)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

void
cp_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int
cp_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}

char *
cp_read_file(const char *path, size_t max, size_t *len_out)
{
    FILE   *f;
    char   *buf;
    size_t  n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        /* over the limit: refuse rather than silently cut */
        free(buf);
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len_out) {
        *len_out = n;
    }
    return buf;
}

int
cp_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
    char        tmp[4096];
    int         fd;
    const char *p = data;

    if (cp_path(tmp, sizeof(tmp), "%s.tmp", path) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return -1;
    }
    /* the mode before the data: a stale tmp keeps the mode it had, the
     * umask may have narrowed a new one */
    if (fchmod(fd, (mode_t) mode) != 0) {
        goto fail;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto fail;
        }
        p += n;
        len -= (size_t) n;
    }
    if (fsync(fd) != 0) {
        goto fail;
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return -1;
    }
    return rename(tmp, path);

fail:
    close(fd);
    unlink(tmp);
    return -1;
}
