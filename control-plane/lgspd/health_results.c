/*
 * The health poller's results (SPEC §8): each check's outcome written to
 * health.db (target rows, hourly counts, state changes, incidents), and
 * the webhook notifications they queue, sent through the poller's curl
 * multi handle with retries.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "lgspd.h"
#include "health.h"
#include "publish.h"
#include "cp_health.h"
#include "cp_store.h"
#include "cp_util.h"

/* ---- health.db writes -------------------------------------------------- */

int
hdb_write(const char *sql, const char *fmt, ...)
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

void
health_flush_rows(void)
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
        hdb_write("UPDATE targets SET fails = ?1, oks = ?2,"
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

void
health_flush_hours(int all)
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
void
health_roll_hour(target_t *t, int64_t hour_ms)
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
    hdb_write("INSERT INTO notifications (incident_id, event, body, next_ms,"
              " created_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
              "issi", incident, event, body, now_ms);
    cJSON_free(body);
}

/* A state change: recorded, an incident opened or closed, the webhook
 * told, and a new snapshot asked for when down-ness flipped. */
void
health_transition(target_t *t, const cp_health_step_t *step,
                  int64_t now_ms, const char *reason)
{
    sqlite3_stmt *st;
    int64_t       incident = 0, opened_ms = now_ms;

    if (cp_db_begin(hl.hdb) != 0) {
        cp_log("error", "health.db: %s", sqlite3_errmsg(hl.hdb));
        return;
    }
    hdb_write("INSERT INTO state_changes (target_id, at_ms, from_state,"
              " to_state, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
              "iisss", t->id, now_ms, cp_health_state_name(step->from),
              cp_health_state_name(step->to), reason);
    hdb_write("UPDATE targets SET state = ?1, state_since_ms = ?2"
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
        if (hdb_write("INSERT INTO incidents (target_id, opened_ms, reason)"
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

/* ---- webhook notifications --------------------------------------------- */

/* the receiver's answer body is not ours to keep (nor to print) */
static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void) data;
    (void) arg;
    return size * nmemb;
}

void
health_start_notifications(int64_t now_ms)
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
        nt->body = health_dup_or_empty(sqlite3_column_text(st, 1));
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
        health_set_common(nt->easy, nt->errbuf);
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

void
health_finish_notification(notify_t *nt, CURLcode rc, int64_t now_ms)
{
    long    http = 0;
    char    why[CURL_ERROR_SIZE + 32];
    int64_t backoff;

    curl_easy_getinfo(nt->easy, CURLINFO_RESPONSE_CODE, &http);
    nt->attempts++;
    if (rc == CURLE_OK && http >= 200 && http <= 299) {
        hdb_write("UPDATE notifications SET state = 'sent', attempts = ?1,"
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
        hdb_write("UPDATE notifications SET state = ?1, attempts = ?2,"
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
