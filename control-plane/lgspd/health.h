/*
 * What the health poller (health.c: targets, checks, the curl multi
 * handle, the loop's entry points) and its results (health_results.c:
 * health.db rows, state changes, incidents, webhook notifications) share.
 * Private to the two.
 */

#ifndef LGSPD_HEALTH_H
#define LGSPD_HEALTH_H

#include <pthread.h>
#include <stdint.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "cp_health.h"

#define TAG_CHECK         1
#define TAG_NOTIFY        2
#define NOTIFY_PARALLEL   8
#define NOTIFY_ATTEMPTS   12      /* 1 s, 2 s, ... capped at 5 min: ~23 min */

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
    int               allow_link_local;  /* its system's permission */
    char              refused_addr[64];  /* set when a check was stopped, */
    int               refused_class;     /* with its cp_addr_class_t */
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

typedef struct {
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
} health_state_t;

/* the poller's state: one per lgspd (health.c) */
extern health_state_t  hl;

/* health.c */
char *health_dup_or_empty(const unsigned char *s);
void health_set_common(CURL *e, char *errbuf);

/* health_results.c */
/* One statement on health.db, its parameters by fmt: i int64, n NULL,
 * s text.  0, or -1 (logged). */
int hdb_write(const char *sql, const char *fmt, ...);
void health_flush_rows(void);
void health_flush_hours(int all);
void health_roll_hour(target_t *t, int64_t hour_ms);
void health_transition(target_t *t, const cp_health_step_t *step,
    int64_t now_ms, const char *reason);
void health_start_notifications(int64_t now_ms);
void health_finish_notification(notify_t *nt, CURLcode rc, int64_t now_ms);

#endif /* LGSPD_HEALTH_H */
