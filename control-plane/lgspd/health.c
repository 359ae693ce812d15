/*
 * Connection status poller (SPEC §8).  One libcurl multi handle, driven
 * from lgspd's loop (lgspd_health_wait is the loop's only wait), polls
 * every system's level-1 URL and every service version's level-2 URL at
 * the system's interval; webhook notifications go through the same
 * handle.  Nothing here blocks on the network: a slow endpoint holds
 * only its own transfer.  Results go to health.db (cp_health.c).
 */

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
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "lgspd.h"
#include "publish.h"
#include "http.h"
#include "cp_health.h"
#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_snapshot_format.h"

#define TAG_CHECK         1
#define TAG_NOTIFY        2
#define NOTIFY_PARALLEL   8
#define NOTIFY_ATTEMPTS   12      /* 1 s, 2 s, ... capped at 5 min: ~23 min */
#define ROW_FLUSH_MS      2000
#define PRUNE_EVERY_MS    10000
#define PRUNE_BATCH       100
#define NOTIFY_EVERY_MS   250
#define LAG_WINDOW_MS     10000

typedef struct {
    int               tag;           /* TAG_CHECK, first: CURLOPT_PRIVATE */
    int64_t           id;            /* health.db targets.id */
    int               kind;
    int64_t           ref_id;
    char             *name, *system_ident, *agency_code, *agency_name;
    char             *url, *service, *version;
    int               interval_s;
    int64_t           next_ms;
    CURL             *easy;
    int               in_flight;
    int64_t           started_ms;
    char             *body;
    size_t            body_len;
    int               truncated;
    char              errbuf[CURL_ERROR_SIZE];
    cp_health_sm_t    sm;
    cp_health_hour_t  hour;
    int               dirty_row, dirty_hour, seen;
    int64_t           last_check_ms;
    int               last_result, last_http, last_latency;
    char              last_reason[256];
} target_t;

typedef struct {
    int                 tag;         /* TAG_NOTIFY */
    int64_t             id;
    int                 attempts;
    CURL               *easy;
    char               *body;
    struct curl_slist  *headers;
    char                errbuf[CURL_ERROR_SIZE];
} notify_t;

typedef struct {
    int64_t           target_id;
    cp_health_hour_t  hour;
} done_hour_t;

static struct {
    CURLM             *multi;
    sqlite3           *hdb;
    target_t         **targets;
    size_t             n, cap;
    long long          data_version;
    done_hour_t       *done;          /* finished hours not yet written */
    size_t             ndone;
    notify_t          *notify[NOTIFY_PARALLEL];
    int64_t            next_row_flush, next_hour_flush, next_prune;
    int64_t            next_notify, prune_cursor;
    int64_t            lag_window_start;
    int                lag_window_max;

    /* read by the HTTP threads (/lgsp/health/services) */
    pthread_mutex_t    mu;
    int64_t            last_tick_ms;
    int                lag_ms;        /* worst start delay, last window */
    int                ntargets, ndown;
} hl = { .mu = PTHREAD_MUTEX_INITIALIZER };

static char *
dup_or_empty(const unsigned char *s)
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

/* ---- health.db writes -------------------------------------------------- */

static int
exec_bind(const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list       ap;
    int           rc;

    if (sqlite3_prepare_v2(hl.hdb, sql, -1, &st, NULL) != SQLITE_OK) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        return -1;
    }
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        switch (fmt[i]) {
        case 'i': sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
        case 'n': va_arg(ap, int64_t); sqlite3_bind_null(st, i + 1); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s) {
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            }
            break;
        }
        }
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        return -1;
    }
    return 0;
}

static void
flush_rows(void)
{
    if (cp_db_begin(hl.hdb) != 0) {
        return;
    }
    for (size_t i = 0; i < hl.n; i++) {
        target_t *t = hl.targets[i];

        if (!t->dirty_row) {
            continue;
        }
        t->dirty_row = 0;
        exec_bind("UPDATE targets SET fails = ?1, oks = ?2,"
                  " last_check_ms = ?3, last_result = ?4, last_http = ?5,"
                  " last_latency_ms = ?6, last_reason = ?7 WHERE id = ?8",
                  "iiisiisi", (int64_t) t->sm.fails, (int64_t) t->sm.oks,
                  t->last_check_ms, cp_health_state_name(t->last_result),
                  (int64_t) t->last_http, (int64_t) t->last_latency,
                  t->last_reason[0] ? t->last_reason : NULL, t->id);
    }
    if (cp_db_commit(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        cp_db_rollback(hl.hdb);
    }
}

static void
flush_hours(int all)
{
    if (hl.ndone == 0 && !all) {
        return;
    }
    if (cp_db_begin(hl.hdb) != 0) {
        return;
    }
    for (size_t i = 0; i < hl.ndone; i++) {
        if (cp_health_store_hour(hl.hdb, hl.done[i].target_id,
                                 &hl.done[i].hour) != 0)
        {
            cp_log("error", "health.db: hour of target %lld: %s",
                   (long long) hl.done[i].target_id, sqlite3_errmsg(hl.hdb));
        }
        cp_health_hour_free(&hl.done[i].hour);
    }
    hl.ndone = 0;
    for (size_t i = 0; all && i < hl.n; i++) {
        target_t *t = hl.targets[i];

        if (t->dirty_hour) {
            t->dirty_hour = 0;
            cp_health_store_hour(hl.hdb, t->id, &t->hour);
        }
    }
    if (cp_db_commit(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        cp_db_rollback(hl.hdb);
    }
}

/* The hour a sample falls in moved on: queue the old one for writing. */
static void
roll_hour(target_t *t, int64_t hour_ms)
{
    done_hour_t *nd;

    if (t->hour.n > 0 || t->hour.minutes[0].checks > 0 || t->dirty_hour) {
        nd = realloc(hl.done, (hl.ndone + 1) * sizeof(*nd));
        if (nd != NULL) {
            hl.done = nd;
            hl.done[hl.ndone].target_id = t->id;
            hl.done[hl.ndone].hour = t->hour;
            hl.ndone++;
            memset(&t->hour, 0, sizeof(t->hour));
        }
    }
    cp_health_hour_init(&t->hour, hour_ms);
    t->dirty_hour = 0;
}

static char *
iso_time(int64_t ms, char *buf, size_t size)
{
    time_t    s = (time_t) (ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));
    return buf;
}

static void
queue_notification(const target_t *t, int64_t incident, const char *event,
                   int64_t opened_ms, int64_t now_ms, const char *reason)
{
    cJSON *o, *a;
    char  *body, when[64];

    if (lgspd.conf.health_webhook[0] == '\0') {
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddNumberToObject(o, "incident", (double) incident);
    a = cJSON_AddObjectToObject(o, "agency");
    cJSON_AddStringToObject(a, "code", t->agency_code);
    cJSON_AddStringToObject(a, "name", t->agency_name);
    cJSON_AddStringToObject(o, "system", t->system_ident);
    if (t->kind == CP_HEALTH_KIND_VERSION) {
        cJSON_AddStringToObject(o, "service", t->service);
        cJSON_AddStringToObject(o, "version", t->version);
    } else {
        cJSON_AddNullToObject(o, "service");
        cJSON_AddNullToObject(o, "version");
    }
    cJSON_AddNumberToObject(o, "level",
                            t->kind == CP_HEALTH_KIND_SYSTEM ? 1 : 2);
    cJSON_AddStringToObject(o, "target", t->name);
    cJSON_AddStringToObject(o, "at", iso_time(now_ms, when, sizeof(when)));
    cJSON_AddStringToObject(o, "opened_at",
                            iso_time(opened_ms, when, sizeof(when)));
    if (strcmp(event, "close") == 0) {
        cJSON_AddNumberToObject(o, "duration_s",
                                (double) ((now_ms - opened_ms) / 1000));
    }
    cJSON_AddStringToObject(o, "reason", reason);
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL) {
        return;
    }
    exec_bind("INSERT INTO notifications (incident_id, event, body, next_ms,"
              " created_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
              "issi", incident, event, body, now_ms);
    cJSON_free(body);
}

/* A state change: recorded, an incident opened or closed, the webhook
 * told, and a new snapshot asked for when down-ness flipped. */
static void
transition(target_t *t, const cp_health_step_t *step, int64_t now_ms,
           const char *reason)
{
    sqlite3_stmt *st;
    int64_t       incident = 0, opened_ms = now_ms;

    if (cp_db_begin(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        return;
    }
    exec_bind("INSERT INTO state_changes (target_id, at_ms, from_state,"
              " to_state, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
              "iisss", t->id, now_ms, cp_health_state_name(step->from),
              cp_health_state_name(step->to), reason);
    exec_bind("UPDATE targets SET state = ?1, state_since_ms = ?2"
              " WHERE id = ?3", "sii", cp_health_state_name(step->to),
              now_ms, t->id);

    if (step->incident_close) {
        st = cp_db_prepare(hl.hdb,
                           "UPDATE incidents SET closed_ms = ?1,"
                           " close_reason = ?2 WHERE target_id = ?3"
                           " AND closed_ms IS NULL RETURNING id, opened_ms");
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, now_ms);
            sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, t->id);
            while (sqlite3_step(st) == SQLITE_ROW) {
                incident = sqlite3_column_int64(st, 0);
                opened_ms = sqlite3_column_int64(st, 1);
            }
            sqlite3_finalize(st);
        }
        if (incident > 0) {
            queue_notification(t, incident, "close", opened_ms, now_ms,
                               reason);
        }
    }
    if (step->incident_open) {
        if (exec_bind("INSERT INTO incidents (target_id, opened_ms, reason)"
                      " VALUES (?1, ?2, ?3)", "iis", t->id, now_ms, reason)
            == 0)
        {
            incident = sqlite3_last_insert_rowid(hl.hdb);
            queue_notification(t, incident, "open", now_ms, now_ms, reason);
        }
    }
    if (cp_db_commit(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        cp_db_rollback(hl.hdb);
    }

    cp_log(step->to == CP_HEALTH_DOWN ? "warning" : "info",
           "health: %s %s (%s): %s -> %s%s%s",
           t->kind == CP_HEALTH_KIND_SYSTEM ? "system" : "version", t->name,
           t->agency_code, cp_health_state_name(step->from),
           cp_health_state_name(step->to), reason[0] ? ": " : "", reason);
    if (step->incident_open || step->incident_close) {
        lgspd_publish_request();
    }
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

static void
set_common(CURL *e, char *errbuf)
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
        set_common(t->easy, t->errbuf);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, accept);
    }
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

    if (rc != CURLE_OK) {
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
        roll_hour(t, cp_health_hour_of(sample.at_ms));
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
        transition(t, &step, now_ms, t->last_reason);
    }
}

/* ---- the target list, from the registry -------------------------------- */

static const char registry_sql[] =
    "SELECT 1, s.id, s.ident, s.ident, a.code, a.name, s.health_url,"
    "       s.poll_interval, NULL, NULL"
    "  FROM systems s JOIN agencies a ON a.id = s.agency_id"
    " WHERE s.health_url IS NOT NULL AND s.health_url != ''"
    "   AND a.state = 'active'"
    " UNION ALL "
    "SELECT 2, v.id, sv.code || '/' || v.version, s.ident, a.code, a.name,"
    "       v.health_url, s.poll_interval, sv.code, v.version"
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
        exec_bind("UPDATE targets SET active = 0 WHERE id = ?1", "i", t->id);
        if (t->sm.state == CP_HEALTH_DOWN) {
            exec_bind("UPDATE incidents SET closed_ms = ?1, close_reason ="
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
    qsort(hl.targets, hl.n, sizeof(*hl.targets), target_cmp);
    cp_log("info", "health: polling %zu targets", hl.n);
}

/* ---- webhook notifications --------------------------------------------- */

/* the receiver's answer body is not ours to keep (nor to print) */
static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void) data;
    (void) arg;
    return size * nmemb;
}

static void
start_notifications(int64_t now_ms)
{
    sqlite3_stmt *st;
    int           free_slots = 0;

    if (lgspd.conf.health_webhook[0] == '\0') {
        return;
    }
    for (int i = 0; i < NOTIFY_PARALLEL; i++) {
        free_slots += hl.notify[i] == NULL;
    }
    if (free_slots == 0) {
        return;
    }
    /* a close never overtakes the open of its incident */
    st = cp_db_prepare(hl.hdb,
        "SELECT id, body, attempts FROM notifications n"
        " WHERE state = 'pending' AND next_ms <= ?1"
        "   AND NOT EXISTS (SELECT 1 FROM notifications o"
        "        WHERE o.incident_id = n.incident_id AND o.id < n.id"
        "          AND o.state = 'pending')"
        " ORDER BY id LIMIT ?2");
    if (st == NULL) {
        return;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, NOTIFY_PARALLEL);
    while (free_slots > 0 && sqlite3_step(st) == SQLITE_ROW) {
        int64_t   id = sqlite3_column_int64(st, 0);
        int       slot = -1, busy = 0;
        notify_t *nt;

        for (int i = 0; i < NOTIFY_PARALLEL; i++) {
            if (hl.notify[i] == NULL) {
                slot = slot < 0 ? i : slot;
            } else if (hl.notify[i]->id == id) {
                busy = 1;
            }
        }
        if (busy || slot < 0 || (nt = calloc(1, sizeof(*nt))) == NULL) {
            continue;
        }
        nt->tag = TAG_NOTIFY;
        nt->id = id;
        nt->attempts = sqlite3_column_int(st, 2);
        nt->body = dup_or_empty(sqlite3_column_text(st, 1));
        nt->headers = curl_slist_append(NULL,
                                        "Content-Type: application/json");
        /* no "Expect: 100-continue" round trip for a small body */
        nt->headers = curl_slist_append(nt->headers, "Expect:");
        nt->easy = curl_easy_init();
        if (nt->easy == NULL || nt->body == NULL) {
            curl_easy_cleanup(nt->easy);
            curl_slist_free_all(nt->headers);
            free(nt->body);
            free(nt);
            continue;
        }
        set_common(nt->easy, nt->errbuf);
        curl_easy_setopt(nt->easy, CURLOPT_URL, lgspd.conf.health_webhook);
        curl_easy_setopt(nt->easy, CURLOPT_PRIVATE, nt);
        curl_easy_setopt(nt->easy, CURLOPT_HTTPHEADER, nt->headers);
        curl_easy_setopt(nt->easy, CURLOPT_POSTFIELDS, nt->body);
        curl_easy_setopt(nt->easy, CURLOPT_WRITEFUNCTION, discard);
        /* a redirect would turn the POST into a GET */
        curl_easy_setopt(nt->easy, CURLOPT_FOLLOWLOCATION, 0L);
        if (curl_multi_add_handle(hl.multi, nt->easy) != CURLM_OK) {
            curl_easy_cleanup(nt->easy);
            curl_slist_free_all(nt->headers);
            free(nt->body);
            free(nt);
            continue;
        }
        hl.notify[slot] = nt;
        free_slots--;
    }
    sqlite3_finalize(st);
}

static void
finish_notification(notify_t *nt, CURLcode rc, int64_t now_ms)
{
    long    http = 0;
    char    why[CURL_ERROR_SIZE + 32];
    int64_t backoff;

    curl_easy_getinfo(nt->easy, CURLINFO_RESPONSE_CODE, &http);
    nt->attempts++;
    if (rc == CURLE_OK && http >= 200 && http <= 299) {
        exec_bind("UPDATE notifications SET state = 'sent', attempts = ?1,"
                  " last_error = NULL WHERE id = ?2", "ii",
                  (int64_t) nt->attempts, nt->id);
    } else {
        if (rc != CURLE_OK) {
            snprintf(why, sizeof(why), "%s",
                     nt->errbuf[0] ? nt->errbuf : curl_easy_strerror(rc));
        } else {
            snprintf(why, sizeof(why), "HTTP %ld", http);
        }
        backoff = 1000LL << (nt->attempts - 1 < 9 ? nt->attempts - 1 : 9);
        if (backoff > 300000) {
            backoff = 300000;
        }
        exec_bind("UPDATE notifications SET state = ?1, attempts = ?2,"
                  " next_ms = ?3, last_error = ?4 WHERE id = ?5", "siisi",
                  nt->attempts >= NOTIFY_ATTEMPTS ? "failed" : "pending",
                  (int64_t) nt->attempts, now_ms + backoff, why, nt->id);
        cp_log("warning", "health: webhook notification %lld: %s%s",
               (long long) nt->id, why,
               nt->attempts >= NOTIFY_ATTEMPTS ? " (giving up)" : "");
    }
    for (int i = 0; i < NOTIFY_PARALLEL; i++) {
        if (hl.notify[i] == nt) {
            hl.notify[i] = NULL;
        }
    }
    curl_easy_cleanup(nt->easy);
    curl_slist_free_all(nt->headers);
    free(nt->body);
    free(nt);
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
            finish_notification((notify_t *) tag, rc, now);
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
        flush_hours(0);
    }
    if (now >= hl.next_notify) {
        hl.next_notify = now + NOTIFY_EVERY_MS;
        start_notifications(now);
    }
    if (now >= hl.next_row_flush) {
        hl.next_row_flush = now + ROW_FLUSH_MS;
        flush_rows();
    }
    if (now >= hl.next_hour_flush) {
        hl.next_hour_flush = now + (int64_t) d->conf.health_flush_s * 1000;
        flush_hours(1);
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
        flush_rows();
        flush_hours(1);
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
