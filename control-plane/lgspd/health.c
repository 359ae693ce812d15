/*
 * Connection status poller (SPEC §8).  One libcurl multi handle, driven
 * from lgspd's loop (lgspd_health_wait is the loop's only wait), polls
 * every system's level-1 URL and every service version's level-2 URL at
 * the system's interval; webhook notifications go through the same
 * handle.  Nothing here blocks on the network: a slow endpoint holds
 * only its own transfer.  What a check's result changes (health.db rows,
 * incidents, notifications) is health_results.c.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "lgspd.h"
#include "health.h"
#include "http.h"
#include "cp_addr.h"
#include "cp_health.h"
#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_snapshot_format.h"

#define ROW_FLUSH_MS      2000
#define PRUNE_EVERY_MS    10000
#define PRUNE_BATCH       100
#define NOTIFY_EVERY_MS   250
#define LAG_WINDOW_MS     10000

health_state_t  hl = { .mu = PTHREAD_MUTEX_INITIALIZER };

char *
health_dup_or_empty(const unsigned char *s)
{
    return strdup(s ? (const char *) s : "");
}

static void
target_free(target_t *t)
{
    if (t->easy != NULL) {
        if (t->in_flight) {
            curl_multi_remove_handle(hl.multi, t->easy);
        }
        curl_easy_cleanup(t->easy);
    }
    free(t->name);
    free(t->system_ident);
    free(t->agency_code);
    free(t->agency_name);
    free(t->url);
    free(t->service);
    free(t->version);
    free(t->body);
    cp_health_hour_free(&t->hour);
    free(t);
}

static int
target_cmp(const void *a, const void *b)
{
    const target_t *x = *(target_t *const *) a, *y = *(target_t *const *) b;

    if (x->kind != y->kind) {
        return x->kind - y->kind;
    }
    return x->ref_id < y->ref_id ? -1 : x->ref_id > y->ref_id;
}

static target_t *
target_find(int kind, int64_t ref_id)
{
    target_t   key = { .kind = kind, .ref_id = ref_id }, *kp = &key;
    target_t **found;

    if (hl.n == 0) {
        return NULL;
    }
    found = bsearch(&kp, hl.targets, hl.n, sizeof(*hl.targets), target_cmp);
    return found ? *found : NULL;
}

/* ---- checks ------------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    target_t *t = arg;
    size_t    len = size * nmemb, room;
    char     *nb;

    if (t->body == NULL) {
        t->body = malloc(CP_HEALTH_BODY_MAX + 1);
        if (t->body == NULL) {
            return 0;
        }
    }
    room = CP_HEALTH_BODY_MAX - t->body_len;
    if (len > room) {
        /* keep what fits and go on: the answer is judged "too large" */
        t->truncated = 1;
        len = room;
    }
    nb = t->body + t->body_len;
    memcpy(nb, data, len);
    t->body_len += len;
    t->body[t->body_len] = '\0';
    return size * nmemb;
}

void
health_set_common(CURL *e, char *errbuf)
{
    long timeout = lgspd.conf.health_timeout_ms;

    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout / 2);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lgsp-health/1");
}

/*
 * A check may not reach a link-local, metadata or unspecified address
 * unless its system is allowed there: lgspctl judged the URL's spelling,
 * but a name may resolve there and a redirect may lead there.  A new
 * connection is judged by the address libcurl is about to connect to (the
 * kernel turns 0.0.0.0 into 127.0.0.1, so the peer no longer shows it).
 * The multi handle shares connections between transfers, so an allowed
 * target's connections are not kept for others (CURLOPT_FORBID_REUSE in
 * start_check), and a reused connection is judged by its peer too (a
 * webhook delivery may have opened it).  0 when refused.
 */
static int
peer_allowed(target_t *t, int family, const void *addr)
{
    cp_addr_class_t c;

    if (t->allow_link_local
        || (c = cp_addr_classify(family, addr)) == CP_ADDR_ROUTABLE)
    {
        return 1;
    }
    inet_ntop(family, addr, t->refused_addr, sizeof(t->refused_addr));
    t->refused_class = (int) c;
    return 0;
}

static curl_socket_t
open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    const void *addr = NULL;

    (void) purpose;
    if (a->family == AF_INET) {
        addr = &((const struct sockaddr_in *) &a->addr)->sin_addr;
    } else if (a->family == AF_INET6) {
        addr = &((const struct sockaddr_in6 *) &a->addr)->sin6_addr;
    }
    if (addr != NULL && !peer_allowed(arg, a->family, addr)) {
        return CURL_SOCKET_BAD;
    }
    /* what libcurl does without a callback */
    return socket(a->family, a->socktype, a->protocol);
}

static int
check_peer(void *arg, char *peer, char *local, int peer_port, int local_port)
{
    unsigned char addr[16];

    (void) local;
    (void) peer_port;
    (void) local_port;
    if ((inet_pton(AF_INET, peer, addr) == 1
         && !peer_allowed(arg, AF_INET, addr))
        || (inet_pton(AF_INET6, peer, addr) == 1
            && !peer_allowed(arg, AF_INET6, addr)))
    {
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

static void
start_check(target_t *t, int64_t now_ms)
{
    static struct curl_slist *accept;

    if (accept == NULL) {
        accept = curl_slist_append(NULL, "Accept: application/json");
    }
    if (t->easy == NULL) {
        t->easy = curl_easy_init();
        if (t->easy == NULL) {
            return;
        }
        health_set_common(t->easy, t->errbuf);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, accept);
        curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_PREREQFUNCTION, check_peer);
        curl_easy_setopt(t->easy, CURLOPT_PREREQDATA, t);
    }
    t->refused_addr[0] = '\0';
    curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, (long) t->allow_link_local);
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
    t->body_len = 0;
    t->truncated = 0;
    t->errbuf[0] = '\0';
    if (curl_multi_add_handle(hl.multi, t->easy) != CURLM_OK) {
        return;
    }
    t->in_flight = 1;
    t->started_ms = now_ms;
}

static int
curl_reason(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:      return CP_HR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:         return CP_HR_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:    return CP_HR_DNS;
    case CURLE_TOO_MANY_REDIRECTS:      return CP_HR_REDIRECTS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:      return CP_HR_TLS;
    default:                            return CP_HR_OTHER;
    }
}

static void
finish_check(target_t *t, CURLcode rc, int64_t now_ms)
{
    cp_health_sample_t sample;
    cp_health_step_t   step;
    curl_off_t         total_us = 0;
    long               http = 0;
    int                result, reason;

    t->in_flight = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us);

    if (rc != CURLE_OK && t->refused_addr[0] != '\0') {
        result = CP_HEALTH_DOWN;
        reason = CP_HR_CONNECT;
        snprintf(t->last_reason, sizeof(t->last_reason), "%s: refused: %s"
                 " is %s, and system %s is not allowed there"
                 " (--allow-link-local)", cp_health_reason_name(reason),
                 t->refused_addr,
                 cp_addr_class_name((cp_addr_class_t) t->refused_class),
                 t->system_ident);
    } else if (rc != CURLE_OK) {
        result = CP_HEALTH_DOWN;
        reason = curl_reason(rc);
        snprintf(t->last_reason, sizeof(t->last_reason), "%s: %.200s",
                 cp_health_reason_name(reason),
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    } else {
        result = cp_health_classify(http, t->body ? t->body : "",
                                    t->body_len, t->truncated, &reason);
        if (reason == CP_HR_HTTP) {
            snprintf(t->last_reason, sizeof(t->last_reason), "HTTP %ld",
                     http);
        } else if (reason != CP_HR_OK) {
            snprintf(t->last_reason, sizeof(t->last_reason), "%s",
                     cp_health_reason_name(reason));
        } else {
            t->last_reason[0] = '\0';
        }
    }

    sample.at_ms = t->started_ms;
    sample.latency_ms = (uint32_t) (total_us / 1000);
    sample.http = http > 0 && http < 1000 ? (uint16_t) http : 0;
    sample.result = (uint8_t) result;
    sample.reason = (uint8_t) reason;
    if (cp_health_hour_of(sample.at_ms) != t->hour.hour_ms) {
        health_roll_hour(t, cp_health_hour_of(sample.at_ms));
    }
    cp_health_hour_add(&t->hour, &sample);
    t->dirty_hour = 1;
    t->dirty_row = 1;
    t->last_check_ms = sample.at_ms;
    t->last_result = result;
    t->last_http = (int) sample.http;
    t->last_latency = (int) sample.latency_ms;

    cp_health_sm_feed(&t->sm, result, now_ms,
                      lgspd.conf.health_fail_threshold,
                      lgspd.conf.health_ok_threshold, &step);
    if (step.changed) {
        health_transition(t, &step, now_ms, t->last_reason);
    }
}

/* ---- the target list, from the registry -------------------------------- */

static const char registry_sql[] =
    "SELECT 1, s.id, s.ident, s.ident, a.code, a.name, s.health_url,"
    "       s.poll_interval, NULL, NULL, s.allow_link_local"
    "  FROM systems s JOIN agencies a ON a.id = s.agency_id"
    " WHERE s.health_url IS NOT NULL AND s.health_url != ''"
    "   AND a.state = 'active'"
    " UNION ALL "
    "SELECT 2, v.id, sv.code || '/' || v.version, s.ident, a.code, a.name,"
    "       v.health_url, s.poll_interval, sv.code, v.version,"
    "       s.allow_link_local"
    "  FROM versions v JOIN services sv ON sv.id = v.service_id"
    "  JOIN systems s ON s.id = sv.provider_system_id"
    "  JOIN agencies a ON a.id = s.agency_id"
    " WHERE v.health_url IS NOT NULL AND v.health_url != ''"
    "   AND v.state != 'retired' AND a.state = 'active'";

/* Bring a new target's state and current hour back from health.db. */
static void
restore_target(target_t *t, sqlite3_stmt *up, int64_t now_ms)
{
    sqlite3_stmt *st;
    int           state;

    t->id = sqlite3_column_int64(up, 0);
    state = cp_health_state_parse((const char *) sqlite3_column_text(up, 1));
    t->sm.state = state < 0 ? CP_HEALTH_UNKNOWN : state;
    t->sm.fails = sqlite3_column_int(up, 2);
    t->sm.oks = sqlite3_column_int(up, 3);
    t->sm.since_ms = sqlite3_column_int64(up, 4);
    cp_health_hour_init(&t->hour, cp_health_hour_of(now_ms));

    st = cp_db_prepare(hl.hdb, "SELECT n, data FROM raw_hours"
                               " WHERE target_id = ?1 AND hour_ms = ?2");
    if (st == NULL) {
        return;
    }
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, t->hour.hour_ms);
    if (sqlite3_step(st) == SQLITE_ROW
        && cp_health_unpack_raw(sqlite3_column_blob(st, 1),
                                (size_t) sqlite3_column_bytes(st, 1),
                                sqlite3_column_int(st, 0), &t->hour) != 0)
    {
        cp_log("warning", "health.db: damaged hour of %s; starting afresh",
               t->name);
        cp_health_hour_init(&t->hour, cp_health_hour_of(now_ms));
    }
    sqlite3_finalize(st);
}

static int
set_str(char **field, const unsigned char *v)
{
    const char *s = v ? (const char *) v : "";

    if (*field != NULL && strcmp(*field, s) == 0) {
        return 0;
    }
    free(*field);
    *field = strdup(s);
    return 1;
}

static void
reload_targets(int64_t now_ms)
{
    sqlite3_stmt *reg, *up;
    target_t    **fresh = NULL;
    size_t        nfresh = 0, cap = 0;
    int           rc;

    reg = cp_db_prepare(lgspd.db, registry_sql);
    up = cp_db_prepare(hl.hdb,
        "INSERT INTO targets (kind, ref_id, name, system_ident, agency_code,"
        " agency_name, url, interval_s, active)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)"
        " ON CONFLICT (kind, ref_id) DO UPDATE SET name = excluded.name,"
        " system_ident = excluded.system_ident,"
        " agency_code = excluded.agency_code,"
        " agency_name = excluded.agency_name, url = excluded.url,"
        " interval_s = excluded.interval_s, active = 1"
        " RETURNING id, state, fails, oks, state_since_ms");
    if (reg == NULL || up == NULL || cp_db_begin(hl.hdb) != 0) {
        sqlite3_finalize(reg);
        sqlite3_finalize(up);
        cp_log("error", "health: cannot read the targets");
        return;
    }
    for (size_t i = 0; i < hl.n; i++) {
        hl.targets[i]->seen = 0;
    }

    while ((rc = sqlite3_step(reg)) == SQLITE_ROW) {
        int       kind = sqlite3_column_int(reg, 0);
        int64_t   ref = sqlite3_column_int64(reg, 1);
        int       interval = sqlite3_column_int(reg, 7);
        target_t *t = target_find(kind, ref);
        int       changed = 0, created = 0;

        if (interval < 1) {
            interval = 1;
        }
        if (t == NULL) {
            t = calloc(1, sizeof(*t));
            if (t == NULL) {
                break;
            }
            t->tag = TAG_CHECK;
            t->kind = kind;
            t->ref_id = ref;
            created = 1;
        }
        changed |= set_str(&t->name, sqlite3_column_text(reg, 2));
        changed |= set_str(&t->system_ident, sqlite3_column_text(reg, 3));
        changed |= set_str(&t->agency_code, sqlite3_column_text(reg, 4));
        changed |= set_str(&t->agency_name, sqlite3_column_text(reg, 5));
        changed |= set_str(&t->url, sqlite3_column_text(reg, 6));
        changed |= set_str(&t->service, sqlite3_column_text(reg, 8));
        changed |= set_str(&t->version, sqlite3_column_text(reg, 9));
        if (t->interval_s != interval) {
            /* a new interval takes effect from the next check */
            t->interval_s = interval;
            changed = 1;
        }
        t->allow_link_local = sqlite3_column_int(reg, 10);
        t->seen = 1;

        if (changed) {
            sqlite3_reset(up);
            sqlite3_bind_text(up, 1, kind == CP_HEALTH_KIND_SYSTEM
                                     ? "system" : "version", -1,
                              SQLITE_STATIC);
            sqlite3_bind_int64(up, 2, ref);
            sqlite3_bind_text(up, 3, t->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 4, t->system_ident, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 5, t->agency_code, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 6, t->agency_name, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 7, t->url, -1, SQLITE_STATIC);
            sqlite3_bind_int(up, 8, interval);
            if (sqlite3_step(up) == SQLITE_ROW && created) {
                restore_target(t, up, now_ms);
            }
            while (sqlite3_step(up) == SQLITE_ROW) {
                /* drain RETURNING */
            }
        }
        if (created) {
            /* spread the first checks over the interval, not all at once */
            t->next_ms = now_ms + (t->id * 7919) % ((int64_t) interval * 1000);
            if (t->id == 0) {
                target_free(t);
                continue;
            }
        }
        if (nfresh == cap) {
            target_t **nf = realloc(fresh, (cap = cap ? cap * 2 : 64)
                                           * sizeof(*nf));
            if (nf == NULL) {
                if (created) {
                    target_free(t);
                }
                break;
            }
            fresh = nf;
        }
        fresh[nfresh++] = t;
    }
    sqlite3_finalize(reg);
    sqlite3_finalize(up);

    /* gone from the registry: keep their history, stop polling */
    for (size_t i = 0; i < hl.n; i++) {
        target_t *t = hl.targets[i];

        if (t->seen) {
            continue;
        }
        hdb_write("UPDATE targets SET active = 0 WHERE id = ?1", "i", t->id);
        if (t->sm.state == CP_HEALTH_DOWN) {
            hdb_write("UPDATE incidents SET closed_ms = ?1, close_reason ="
                      " 'no longer polled' WHERE target_id = ?2"
                      " AND closed_ms IS NULL", "ii", now_ms, t->id);
        }
        if (t->dirty_hour) {
            cp_health_store_hour(hl.hdb, t->id, &t->hour);
        }
        target_free(t);
    }
    if (cp_db_commit(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        cp_db_rollback(hl.hdb);
    }

    free(hl.targets);
    hl.targets = fresh;
    hl.n = nfresh;
    hl.cap = cap;
    if (hl.n > 1) {
        qsort(hl.targets, hl.n, sizeof(*hl.targets), target_cmp);
    }
    cp_log("info", "health: polling %zu targets", hl.n);
}

/* ---- the loop's entry points ------------------------------------------- */

int
lgspd_health_init(lgspd_t *d)
{
    char        path[PATH_MAX + 32];
    const char *why = NULL;

    if (cp_home_path(&d->home, "health.db", path, sizeof(path)) != 0) {
        cp_err("LGSP_HOME: path too long");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cp_err("libcurl: cannot initialise");
        return -1;
    }
    hl.hdb = cp_health_open(path, 1, &why);
    if (hl.hdb == NULL) {
        cp_err("%s: %s", path, why);
        return -1;
    }
    hl.multi = curl_multi_init();
    if (hl.multi == NULL) {
        cp_err("libcurl: cannot make the multi handle");
        return -1;
    }
    curl_multi_setopt(hl.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long) d->conf.health_max_connections);
    /* keep a connection to every agency between checks */
    curl_multi_setopt(hl.multi, CURLMOPT_MAXCONNECTS,
                      (long) d->conf.health_max_connections);

    hl.data_version = -1;
    hl.lag_window_start = cp_now_ms();
    return 0;
}

int
lgspd_health_wait(lgspd_t *d, int fd, int timeout_ms)
{
    struct curl_waitfd w = { .fd = fd, .events = CURL_WAIT_POLLIN };
    int64_t            now = cp_now_ms(), next = now + timeout_ms;
    int                numfds = 0;

    (void) d;
    for (size_t i = 0; i < hl.n; i++) {
        if (!hl.targets[i]->in_flight && hl.targets[i]->next_ms < next) {
            next = hl.targets[i]->next_ms;
        }
    }
    timeout_ms = next > now ? (int) (next - now) : 0;
    if (curl_multi_poll(hl.multi, &w, 1, timeout_ms, &numfds) != CURLM_OK) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, timeout_ms);
    }
    return (w.revents & CURL_WAIT_POLLIN) ? 1 : 0;
}

void
lgspd_health_tick(lgspd_t *d)
{
    CURLMsg  *m;
    int       running, left;
    int64_t   now;
    long long dv;

    curl_multi_perform(hl.multi, &running);
    now = cp_now_ms();
    while ((m = curl_multi_info_read(hl.multi, &left)) != NULL) {
        int  *tag = NULL;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;

        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **) &tag);
        curl_multi_remove_handle(hl.multi, e);
        if (tag != NULL && *tag == TAG_CHECK) {
            finish_check((target_t *) tag, rc, now);
        } else if (tag != NULL && *tag == TAG_NOTIFY) {
            health_finish_notification((notify_t *) tag, rc, now);
        }
    }

    /* an operator committed something: the targets may have changed */
    dv = cp_db_int(d->db, "PRAGMA data_version", -1);
    if (dv != hl.data_version) {
        hl.data_version = dv;
        reload_targets(now);
    }

    for (size_t i = 0; i < hl.n; i++) {
        target_t *t = hl.targets[i];
        int64_t   lag;

        if (t->next_ms > now) {
            continue;
        }
        lag = now - t->next_ms;
        /* a check still running when the next is due: skip that one, the
         * endpoint is slower than its interval and piling up helps no one */
        if (!t->in_flight) {
            start_check(t, now);
            if (lag > hl.lag_window_max) {
                hl.lag_window_max = (int) lag;
            }
        }
        t->next_ms += (int64_t) t->interval_s * 1000;
        if (t->next_ms <= now) {
            t->next_ms = now + (int64_t) t->interval_s * 1000;
        }
    }
    if (hl.ndone > 0) {
        health_flush_hours(0);
    }
    if (now >= hl.next_notify) {
        hl.next_notify = now + NOTIFY_EVERY_MS;
        health_start_notifications(now);
    }
    if (now >= hl.next_row_flush) {
        hl.next_row_flush = now + ROW_FLUSH_MS;
        health_flush_rows();
    }
    if (now >= hl.next_hour_flush) {
        hl.next_hour_flush = now + (int64_t) d->conf.health_flush_s * 1000;
        health_flush_hours(1);
    }
    if (now >= hl.next_prune) {
        hl.next_prune = now + PRUNE_EVERY_MS;
        if (cp_health_prune(hl.hdb, now, d->conf.health_raw_days,
                            d->conf.health_summary_days, &hl.prune_cursor,
                            PRUNE_BATCH) < 0)
        {
            cp_log("error", "health.db: pruning: %s", sqlite3_errmsg(hl.hdb));
        }
    }

    pthread_mutex_lock(&hl.mu);
    hl.last_tick_ms = now;
    if (now - hl.lag_window_start >= LAG_WINDOW_MS) {
        hl.lag_ms = hl.lag_window_max;
        hl.lag_window_max = 0;
        hl.lag_window_start = now;
    } else if (hl.lag_window_max > hl.lag_ms) {
        hl.lag_ms = hl.lag_window_max;
    }
    hl.ntargets = (int) hl.n;
    hl.ndown = 0;
    for (size_t i = 0; i < hl.n; i++) {
        hl.ndown += hl.targets[i]->sm.state == CP_HEALTH_DOWN;
    }
    pthread_mutex_unlock(&hl.mu);
}

void
lgspd_health_fini(lgspd_t *d)
{
    (void) d;
    if (hl.hdb != NULL) {
        health_flush_rows();
        health_flush_hours(1);
    }
    for (size_t i = 0; i < hl.n; i++) {
        target_free(hl.targets[i]);
    }
    free(hl.targets);
    hl.targets = NULL;
    hl.n = 0;
    for (int i = 0; i < NOTIFY_PARALLEL; i++) {
        notify_t *nt = hl.notify[i];

        if (nt != NULL) {
            /* still pending in health.db: sent again after a restart */
            curl_multi_remove_handle(hl.multi, nt->easy);
            curl_easy_cleanup(nt->easy);
            curl_slist_free_all(nt->headers);
            free(nt->body);
            free(nt);
            hl.notify[i] = NULL;
        }
    }
    if (hl.multi != NULL) {
        curl_multi_cleanup(hl.multi);
        hl.multi = NULL;
    }
    if (hl.hdb != NULL) {
        sqlite3_close(hl.hdb);
        hl.hdb = NULL;
    }
    curl_global_cleanup();
}

/* ---- the platform's own health (HTTP threads) -------------------------- */

static const char *
worst(const char *a, const char *b)
{
    return cp_health_state_parse(b) > cp_health_state_parse(a) ? b : a;
}

/* A database answers when it opens read-only and reads its layout. */
static cJSON *
check_db(const lgspd_t *d, const char *rel, int optional)
{
    char     path[PATH_MAX + 32];
    sqlite3 *db = NULL;
    cJSON   *c = cJSON_CreateObject();
    int      ok = 0;

    if (cp_home_path(&d->home, rel, path, sizeof(path)) != 0) {
        cJSON_AddStringToObject(c, "status", "down");
        return c;
    }
    if (optional && access(path, F_OK) != 0) {
        cJSON_Delete(c);
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 1000);
        ok = cp_db_int(db, "PRAGMA user_version", -1) > 0;
    }
    sqlite3_close(db);
    cJSON_AddStringToObject(c, "status", ok ? "up" : "down");
    return c;
}

/* The newest published snapshot's generation and age, from its header. */
static cJSON *
check_snapshot(const lgspd_t *d, int64_t now_ms)
{
    char                path[PATH_MAX + 64];
    cJSON              *c = cJSON_CreateObject();
    DIR                *dir;
    struct dirent      *de;
    unsigned long long  best = 0, gen;
    lgsp_snap_header_t  h;
    int                 fd, found = 0;
    char                end;

    if (cp_home_path(&d->home, "snapshots", path, sizeof(path)) == 0
        && (dir = opendir(path)) != NULL)
    {
        while ((de = readdir(dir)) != NULL) {
            if (sscanf(de->d_name, "snap.%llu%c", &gen, &end) == 1
                && gen >= best)
            {
                best = gen;
                found = 1;
            }
        }
        closedir(dir);
    }
    if (found) {
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "/snap.%llu", best);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        found = fd >= 0 && read(fd, &h, sizeof(h)) == (ssize_t) sizeof(h)
                && memcmp(h.magic, LGSP_SNAP_MAGIC, 8) == 0;
        if (fd >= 0) {
            close(fd);
        }
    }
    if (!found) {
        cJSON_AddStringToObject(c, "status", "degraded");
        cJSON_AddNumberToObject(c, "generation", 0);
        cJSON_AddNullToObject(c, "age_s");
        cJSON_AddStringToObject(c, "detail", "no snapshot published yet");
        return c;
    }
    cJSON_AddStringToObject(c, "status", "up");
    cJSON_AddNumberToObject(c, "generation", (double) h.generation);
    cJSON_AddNumberToObject(c, "age_s",
                            (double) ((now_ms - h.created_ms) / 1000));
    return c;
}

void
lgspd_route_health(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    (void) rq;
    lgspd_reply_json(rp, 200, "{\"status\":\"up\"}");
}

void
lgspd_route_health_services(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    cJSON      *o, *checks, *c;
    const char *overall = "up";
    int64_t     now = cp_now_ms(), tick_age;
    int         lag, ntargets, ndown;
    char       *s;

    (void) rq;
    pthread_mutex_lock(&hl.mu);
    tick_age = hl.last_tick_ms ? now - hl.last_tick_ms : -1;
    lag = hl.lag_ms;
    ntargets = hl.ntargets;
    ndown = hl.ndown;
    pthread_mutex_unlock(&hl.mu);

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "up");
    checks = cJSON_AddObjectToObject(o, "checks");

    cJSON_AddItemToObject(checks, "registry_db", check_db(&lgspd, "lgsp.db", 0));
    cJSON_AddItemToObject(checks, "health_db", check_db(&lgspd, "health.db", 0));
    if ((c = check_db(&lgspd, "audit.db", 1)) != NULL) {
        cJSON_AddItemToObject(checks, "audit_db", c);
    }
    cJSON_AddItemToObject(checks, "snapshot", check_snapshot(&lgspd, now));

    /* the loop is stuck (no tick for 10 s) or checks start late */
    c = cJSON_AddObjectToObject(checks, "poller");
    cJSON_AddStringToObject(c, "status",
                            tick_age < 0 || tick_age > 10000 ? "down"
                            : lag > 5000 ? "degraded" : "up");
    cJSON_AddNumberToObject(c, "lag_ms", lag);
    cJSON_AddNumberToObject(c, "targets", ntargets);
    cJSON_AddNumberToObject(c, "targets_down", ndown);

    /* filled in by the audit spool's ingestion */
    c = cJSON_AddObjectToObject(checks, "audit_spool");
    cJSON_AddStringToObject(c, "status", "up");
    cJSON_AddNullToObject(c, "backlog");
    cJSON_AddStringToObject(c, "detail", "not measured yet");

    cJSON_ArrayForEach(c, checks) {
        cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "status");

        if (cJSON_IsString(st)) {
            overall = worst(overall, st->valuestring);
        }
    }
    cJSON_ReplaceItemInObject(o, "status", cJSON_CreateString(overall));
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    lgspd_reply_json(rp, strcmp(overall, "down") == 0 ? 503 : 200,
                     s ? s : "{\"status\":\"down\"}");
    cJSON_free(s);
}


/* The poller's health.db, for the snapshot compiler (NULL before init). */
sqlite3 *
lgspd_health_db(void)
{
    return hl.hdb;
}

/* For metrics (main loop only): the poller's lag and the open incidents
 * (-1 when health.db cannot tell). */
void
lgspd_health_metrics(int *lag_ms, int *targets, int *down,
                     long long *incidents_open)
{
    pthread_mutex_lock(&hl.mu);
    *lag_ms = hl.lag_ms;
    *targets = hl.ntargets;
    *down = hl.ndown;
    pthread_mutex_unlock(&hl.mu);
    *incidents_open = hl.hdb == NULL ? -1
                      : cp_db_int(hl.hdb, "SELECT count(*) FROM incidents"
                                          " WHERE closed_ms IS NULL", -1);
}
