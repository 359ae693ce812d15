#ifndef CP_HEALTH_H
#define CP_HEALTH_H

/*
 * Connection status (SPEC §8): how one answer is judged, the per-target
 * state machine with hysteresis, the per-hour result buffers and their
 * packed form in health.db, retention, and what the snapshot compiler
 * reads.  No libcurl and no clock here: callers pass the time, so the
 * unit tests drive everything with a fake clock.
 */

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* states (targets.state) and check results */
enum {
    CP_HEALTH_UNKNOWN = 0,
    CP_HEALTH_UP,
    CP_HEALTH_DEGRADED,
    CP_HEALTH_DOWN
};

/* why a check came out as it did (raw results keep the code) */
enum {
    CP_HR_OK = 0,
    CP_HR_HTTP,              /* status outside 2xx */
    CP_HR_TIMEOUT,
    CP_HR_CONNECT,
    CP_HR_DNS,
    CP_HR_TLS,
    CP_HR_REDIRECTS,
    CP_HR_BODY,              /* 2xx with a body not in the agreed shape */
    CP_HR_REPORTED_DEGRADED, /* the agency says "degraded" */
    CP_HR_REPORTED_DOWN,     /* the agency says "down" */
    CP_HR_OTHER,
    CP_HR_MAX
};

#define CP_HEALTH_KIND_SYSTEM   1   /* level 1 */
#define CP_HEALTH_KIND_VERSION  2   /* level 2 */

/* A health answer body larger than this is not read further. */
#define CP_HEALTH_BODY_MAX      16384
/* Raw results kept per target per hour (3,600 at the 1 s floor). */
#define CP_HEALTH_HOUR_SAMPLES  7200

#define CP_HEALTH_HOUR_MS       3600000LL
#define CP_HEALTH_MINUTE_MS     60000LL
#define CP_HEALTH_DAY_MS        86400000LL

const char *cp_health_state_name(int state);
int cp_health_state_parse(const char *name);      /* -1 when unknown */
const char *cp_health_reason_name(int reason);

/* Judge an answer that arrived: HTTP status, the body (NUL-terminated,
 * len bytes; truncated when it was longer than CP_HEALTH_BODY_MAX).
 * Returns CP_HEALTH_UP, _DEGRADED or _DOWN and the reason code. */
int cp_health_classify(long http_status, const char *body, size_t len,
                       int truncated, int *reason);

/* The state machine of one target. */
typedef struct {
    int      state;          /* CP_HEALTH_* */
    int      fails;          /* failed checks in a row */
    int      oks;            /* not-failed checks in a row */
    int64_t  since_ms;       /* of the current state */
} cp_health_sm_t;

typedef struct {
    int      changed;
    int      from, to;
    int      incident_open;  /* became down */
    int      incident_close; /* left down */
} cp_health_step_t;

/* Feed one result.  A failure (down) only counts until fail_threshold in
 * a row make the target down; from down, ok_threshold results in a row
 * that are not failures bring it back (to up or degraded, as the last
 * one says); otherwise up and degraded follow the latest result. */
void cp_health_sm_feed(cp_health_sm_t *sm, int result, int64_t now_ms,
                       int fail_threshold, int ok_threshold,
                       cp_health_step_t *step);

/* One check as kept for health_raw_days. */
typedef struct {
    int64_t   at_ms;
    uint32_t  latency_ms;
    uint16_t  http;          /* 0: no HTTP answer */
    uint8_t   result;        /* CP_HEALTH_UP.._DOWN */
    uint8_t   reason;        /* CP_HR_* */
} cp_health_sample_t;

/* One minute as kept for health_summary_days. */
typedef struct {
    uint32_t  checks;
    uint32_t  failures;      /* checks whose result was down */
    uint64_t  latency_sum;   /* of every check, failed ones too */
    uint32_t  latency_max;
} cp_health_minute_t;

/* The hour a target is filling: raw samples and its 60 minutes. */
typedef struct {
    int64_t              hour_ms;      /* start, UTC */
    cp_health_sample_t  *samples;
    size_t               n, cap;
    size_t               dropped;      /* raw samples over the cap */
    cp_health_minute_t   minutes[60];
} cp_health_hour_t;

void cp_health_hour_init(cp_health_hour_t *h, int64_t hour_ms);
void cp_health_hour_free(cp_health_hour_t *h);
/* Start of the UTC hour holding t. */
int64_t cp_health_hour_of(int64_t t_ms);
/* Add a sample of this hour (0), -1 when it belongs to another hour or
 * memory ran out (the minute still counts it then). */
int cp_health_hour_add(cp_health_hour_t *h, const cp_health_sample_t *s);

/* A minute as stored: average rounded to the nearest ms, both clamped
 * to 65535 ms, counts to 255. */
typedef struct {
    unsigned  checks, failures, avg_ms, max_ms;
} cp_health_summary_t;

void cp_health_minute_summary(const cp_health_minute_t *m,
                              cp_health_summary_t *out);

/* Packed blobs of raw_hours.data and minute_hours.data (malloc'd). */
int cp_health_pack_raw(const cp_health_hour_t *h, unsigned char **out,
                       size_t *out_len);
int cp_health_pack_minutes(const cp_health_hour_t *h, unsigned char **out,
                           size_t *out_len);
/* Unpack: n records expected; 0 or -1 on a damaged blob.  Raw samples
 * are re-added to h (which rebuilds its minutes); summaries land in
 * out[60]. */
int cp_health_unpack_raw(const void *data, size_t len, int n,
                         cp_health_hour_t *h);
int cp_health_unpack_minutes(const void *data, size_t len,
                             cp_health_summary_t out[60]);
/* Any run of n consecutive minutes (an hour: 60; a compacted day: 1440). */
#define CP_HEALTH_DAY_MINUTES   1440
int cp_health_pack_summaries(const cp_health_summary_t *m, int n,
                             unsigned char **out, size_t *out_len);
int cp_health_unpack_summaries(const void *data, size_t len, int n,
                               cp_health_summary_t *out);

/* health.db: open (creating it when create) and bring it to the newest
 * layout; NULL with *why on failure. */
sqlite3 *cp_health_open(const char *path, int create, const char **why);
int cp_health_latest(void);

/* Write a target's hour (both blobs) in the caller's transaction. */
int cp_health_store_hour(sqlite3 *hdb, int64_t target_id,
                         const cp_health_hour_t *h);

/* Delete what is past retention, at most `batch` rows of each kind and
 * the hour rows of at most `batch` targets after *cursor (which moves on,
 * and wraps to 0).  Returns rows deleted, -1 on error. */
int cp_health_prune(sqlite3 *hdb, int64_t now_ms, int raw_days,
                    int summary_days, int64_t *cursor, int batch);

/* What the snapshot compiler needs: every target now down, by the
 * registry id of its system (kind CP_HEALTH_KIND_SYSTEM) or version
 * (CP_HEALTH_KIND_VERSION).  Targets gone from the registry are skipped.
 * Returns how many were reported, -1 on error. */
typedef void (*cp_health_down_pt)(void *arg, int kind, int64_t ref_id);
int cp_health_each_down(sqlite3 *hdb, cp_health_down_pt fn, void *arg);

/* One target's state by registry id: CP_HEALTH_* (UNKNOWN when never
 * polled), -1 on error. */
int cp_health_state(sqlite3 *hdb, int kind, int64_t ref_id);

#endif /* CP_HEALTH_H */
