#ifndef CP_AUDIT_SUMMARY_H
#define CP_AUDIT_SUMMARY_H

/*
 * Daily summaries of the audit log (schemas/sql-audit/002_audit_summary.sql):
 * lgspd adds a batch's records to them in the batch's own transaction;
 * `lgspctl report` reads them.
 */

#include <stdint.h>
#include <sqlite3.h>

#include "cp_audit.h"

/* the latency histogram: 4 buckets per doubling from 1 ms, the last open */
#define CP_LAT_BUCKETS  64

/* The bucket of a duration in µs. */
int cp_latency_bucket(int64_t us);

/* The upper bound of bucket b in µs (INT64_MAX for the last). */
int64_t cp_latency_bound(int b);

/*
 * The duration at or below which a fraction q (0 < q <= 1) of the calls
 * of the histogram fall, by nearest rank, read as the upper bound of its
 * bucket and never above max_us: at or above the true value, and less
 * than 2^(1/4) times it.  0 for an empty histogram.
 */
int64_t cp_latency_percentile(const int64_t hist[CP_LAT_BUCKETS],
                              int64_t max_us, double q);

typedef struct cp_summary_s  cp_summary_t;

cp_summary_t *cp_summary_new(void);
void cp_summary_free(cp_summary_t *s);

/* Forget what was added (a batch rolled back). */
void cp_summary_reset(cp_summary_t *s);

/* Count one stored record.  -1 when out of memory. */
int cp_summary_add(cp_summary_t *s, const cp_audit_row_t row);

/* Add what was counted to audit.db, inside the caller's transaction, and
 * reset.  0, or -1 with the reason logged by the caller from db. */
int cp_summary_flush(cp_summary_t *s, sqlite3 *db);

#endif /* CP_AUDIT_SUMMARY_H */
