/*
 * Trusted issuers' JWKS kept current (SPEC §5).  A URL is fetched again
 * every jwks_refresh_s through a curl multi handle of our own that the
 * loop drives without ever waiting on it (the loop ticks at least every
 * watch_interval_ms); a failed or unusable fetch keeps the last good set
 * and is tried again sooner.  A file is stat()ed every second and read
 * again when it changes.  A new set goes into issuers.jwks and asks the
 * publisher for a snapshot: our own writes do not move data_version.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <curl/curl.h>

#include "lgspd.h"
#include "publish.h"
#include "cp_jwks.h"
#include "cp_store.h"
#include "cp_util.h"

#define ISSUERS_FILE_CHECK_MS   1000
#define ISSUERS_RETRY_MAX_MS    30000
#define ISSUERS_TIMEOUT_MS      5000

typedef struct {
    int64_t    id;
    char      *source;
    int        is_url;
    int        seen;
    int64_t    next_ms;
    /* a URL */
    CURL      *easy;
    int        in_flight;
    char      *body;
    size_t     body_len;
    int        too_large;
    int        failing;
    char       errbuf[CURL_ERROR_SIZE];
    /* a file: what it was when last read */
    struct stat  st;
    int        st_known;
} issuer_t;

static struct {
    CURLM      *multi;
    issuer_t  **v;
    size_t      n;
    long long   data_version;
    int         started;
} is;

static void
issuer_free(issuer_t *i)
{
    if (i->easy != NULL) {
        if (i->in_flight) {
            curl_multi_remove_handle(is.multi, i->easy);
        }
        curl_easy_cleanup(i->easy);
    }
    free(i->body);
    free(i->source);
    free(i);
}

static issuer_t *
issuer_find(int64_t id)
{
    for (size_t k = 0; k < is.n; k++) {
        if (is.v[k]->id == id) {
            return is.v[k];
        }
    }
    return NULL;
}

/*
 * Store a new set when it differs from the stored one.  Either way it is
 * the set in force now: fetched_at says when it was last confirmed.
 */
static void
store_jwks(lgspd_t *d, issuer_t *i, const char *jwks, size_t len,
           int64_t now_ms)
{
    sqlite3_stmt *st;
    const char   *why;
    int           same = 0, rc;

    if (cp_jwks_check(jwks, len, &why) != 0) {
        cp_log("error", "issuer %lld: %s: %s; the last good keys stay",
               (long long) i->id, i->source, why);
        i->failing = 1;
        return;
    }
    st = cp_db_prepare(d->db, "SELECT jwks FROM issuers WHERE id = ?1");
    if (st == NULL) {
        return;
    }
    sqlite3_bind_int64(st, 1, i->id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *old = sqlite3_column_blob(st, 0);
        size_t      old_len = (size_t) sqlite3_column_bytes(st, 0);

        same = old != NULL && old_len == len && memcmp(old, jwks, len) == 0;
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(d->db, same
        ? "UPDATE issuers SET fetched_at = ?3 WHERE id = ?1"
        : "UPDATE issuers SET jwks = ?2, fetched_at = ?3 WHERE id = ?1");
    if (st == NULL) {
        return;
    }
    sqlite3_bind_int64(st, 1, i->id);
    if (!same) {
        sqlite3_bind_text(st, 2, jwks, (int) len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, now_ms / 1000);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cp_log("error", "issuer %lld: cannot store its keys: %s",
               (long long) i->id, sqlite3_errmsg(d->db));
        return;
    }
    if (i->failing) {
        cp_log("info", "issuer %lld: %s answers again", (long long) i->id,
               i->source);
        i->failing = 0;
    }
    if (!same) {
        cp_log("info", "issuer %lld: new keys from %s (%d usable)",
               (long long) i->id, i->source,
               cp_jwks_keys(jwks, len, NULL, NULL));
        lgspd_publish_request();
    }
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    issuer_t *i = arg;
    size_t    len = size * nmemb;
    char     *nb;

    if (i->body_len + len > CP_JWKS_MAX) {
        i->too_large = 1;
        return 0;                    /* aborts the transfer */
    }
    nb = realloc(i->body, i->body_len + len + 1);
    if (nb == NULL) {
        return 0;
    }
    i->body = nb;
    memcpy(nb + i->body_len, data, len);
    i->body_len += len;
    nb[i->body_len] = '\0';
    return len;
}

static void
start_fetch(lgspd_t *d, issuer_t *i)
{
    if (i->easy == NULL) {
        i->easy = curl_easy_init();
        if (i->easy == NULL) {
            return;
        }
        curl_easy_setopt(i->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(i->easy, CURLOPT_ERRORBUFFER, i->errbuf);
        curl_easy_setopt(i->easy, CURLOPT_TIMEOUT_MS,
                         (long) ISSUERS_TIMEOUT_MS);
        curl_easy_setopt(i->easy, CURLOPT_CONNECTTIMEOUT_MS,
                         (long) ISSUERS_TIMEOUT_MS / 2);
        curl_easy_setopt(i->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(i->easy, CURLOPT_MAXREDIRS, 3L);
        curl_easy_setopt(i->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(i->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(i->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(i->easy, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(i->easy, CURLOPT_USERAGENT, "lgsp-jwks/1");
        curl_easy_setopt(i->easy, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t) CP_JWKS_MAX);
        curl_easy_setopt(i->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(i->easy, CURLOPT_WRITEDATA, i);
        curl_easy_setopt(i->easy, CURLOPT_PRIVATE, i);
        curl_easy_setopt(i->easy, CURLOPT_URL, i->source);
    }
    (void) d;
    i->body_len = 0;
    i->too_large = 0;
    i->errbuf[0] = '\0';
    if (curl_multi_add_handle(is.multi, i->easy) == CURLM_OK) {
        i->in_flight = 1;
    }
}

static void
finish_fetch(lgspd_t *d, issuer_t *i, CURLcode rc, int64_t now_ms)
{
    long   status = 0;
    int64_t refresh = (int64_t) d->conf.jwks_refresh_s * 1000;

    i->in_flight = 0;
    curl_easy_getinfo(i->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status == 200 && !i->too_large) {
        store_jwks(d, i, i->body ? i->body : "", i->body_len, now_ms);
    } else {
        cp_log("error", "issuer %lld: %s: %s; the last good keys stay",
               (long long) i->id, i->source,
               i->too_large ? "over 256 KB"
               : rc != CURLE_OK ? (i->errbuf[0] ? i->errbuf
                                                : curl_easy_strerror(rc))
               : "not a 200 answer");
        i->failing = 1;
    }
    /* a failing source is asked again sooner than the refresh */
    i->next_ms = now_ms + (i->failing && refresh > ISSUERS_RETRY_MAX_MS
                           ? ISSUERS_RETRY_MAX_MS : refresh);
    free(i->body);
    i->body = NULL;
    i->body_len = 0;
}

static void
check_file(lgspd_t *d, issuer_t *i, int64_t now_ms)
{
    struct stat  st;
    char        *jwks;
    size_t       len;

    i->next_ms = now_ms + ISSUERS_FILE_CHECK_MS;
    if (stat(i->source, &st) != 0) {
        if (!i->failing) {
            cp_log("error", "issuer %lld: %s: cannot stat; the last good"
                   " keys stay", (long long) i->id, i->source);
            i->failing = 1;
        }
        return;
    }
    if (i->st_known && st.st_ino == i->st.st_ino
        && st.st_size == i->st.st_size
        && st.st_mtim.tv_sec == i->st.st_mtim.tv_sec
        && st.st_mtim.tv_nsec == i->st.st_mtim.tv_nsec)
    {
        return;
    }
    jwks = cp_read_file(i->source, CP_JWKS_MAX, &len);
    if (jwks == NULL) {
        cp_log("error", "issuer %lld: %s: cannot read (or over 256 KB);"
               " the last good keys stay", (long long) i->id, i->source);
        i->failing = 1;
        return;
    }
    i->st = st;
    i->st_known = 1;
    store_jwks(d, i, jwks, len, now_ms);
    free(jwks);
}

static void
reload(lgspd_t *d, int64_t now_ms)
{
    sqlite3_stmt *st;
    size_t        k;

    st = cp_db_prepare(d->db, "SELECT id, jwks_source FROM issuers");
    if (st == NULL) {
        return;
    }
    for (k = 0; k < is.n; k++) {
        is.v[k]->seen = 0;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t     id = sqlite3_column_int64(st, 0);
        const char *src = (const char *) sqlite3_column_text(st, 1);
        issuer_t   *i = issuer_find(id), **nv;

        if (i != NULL) {
            i->seen = 1;
            continue;
        }
        if (src == NULL || (i = calloc(1, sizeof(*i))) == NULL) {
            continue;
        }
        nv = realloc(is.v, (is.n + 1) * sizeof(*nv));
        i->source = strdup(src);
        if (nv == NULL || i->source == NULL) {
            is.v = nv ? nv : is.v;
            free(i->source);
            free(i);
            continue;
        }
        is.v = nv;
        i->id = id;
        i->is_url = strncmp(src, "https://", 8) == 0
                    || strncmp(src, "http://", 7) == 0;
        i->seen = 1;
        i->next_ms = now_ms;         /* a new issuer: its keys at once */
        is.v[is.n++] = i;
    }
    sqlite3_finalize(st);

    /* removed issuers: their transfers stop here */
    for (k = 0; k < is.n; ) {
        if (!is.v[k]->seen) {
            issuer_free(is.v[k]);
            is.v[k] = is.v[--is.n];
        } else {
            k++;
        }
    }
}

void
lgspd_issuers_tick(lgspd_t *d)
{
    CURLMsg   *m;
    int        running, left;
    int64_t    now = cp_now_ms();
    long long  dv;

    if (d->stop) {
        for (size_t k = 0; k < is.n; k++) {
            issuer_free(is.v[k]);
        }
        free(is.v);
        is.v = NULL;
        is.n = 0;
        if (is.multi != NULL) {
            curl_multi_cleanup(is.multi);
            is.multi = NULL;
        }
        return;
    }
    if (is.multi == NULL) {
        if (is.started) {
            return;                  /* could not make it: logged once */
        }
        is.started = 1;
        is.multi = curl_multi_init();
        if (is.multi == NULL) {
            cp_log("error", "issuers: libcurl: cannot make a multi handle");
            return;
        }
        is.data_version = -1;
    }

    dv = cp_db_int(d->db, "PRAGMA data_version", -1);
    if (dv != is.data_version) {
        is.data_version = dv;
        reload(d, now);
    }

    if (is.n == 0) {
        return;
    }
    curl_multi_perform(is.multi, &running);
    while ((m = curl_multi_info_read(is.multi, &left)) != NULL) {
        issuer_t *i = NULL;

        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &i);
        curl_multi_remove_handle(is.multi, m->easy_handle);
        if (i != NULL) {
            finish_fetch(d, i, m->data.result, now);
        }
    }

    for (size_t k = 0; k < is.n; k++) {
        issuer_t *i = is.v[k];

        if (i->in_flight || now < i->next_ms) {
            continue;
        }
        if (i->is_url) {
            start_fetch(d, i);
            /* until it ends; finish_fetch sets the next time */
            i->next_ms = now + (int64_t) d->conf.jwks_refresh_s * 1000;
        } else {
            check_file(d, i, now);
        }
    }
    /* a transfer just added makes its first move now, not a tick later */
    curl_multi_perform(is.multi, &running);
}
