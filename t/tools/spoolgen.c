/*
 * spoolgen: writes synthetic audit records into an LGSP spool as an nginx
 * worker would, so they reach audit.db through lgspd's ingester.  Built
 * for the tests (build/t/bin/spoolgen) and never installed: the shipped
 * lgspctl has no verb that writes records (issue 16: such a verb let an
 * operator inject back-dated records that the next seal signed).
 *
 *   spoolgen [--spool DIR] N [--seg-size BYTES] [--every K] [--pause-us U]
 *            [--hold] [--tag TAG] [--days-ago D]
 *   spoolgen [--spool DIR] --tsv FILE
 *
 * N synthetic records; --every K prints the count written every K records;
 * --hold leaves the last segment unsealed and sleeps (to be killed);
 * --days-ago D: start times from noon (UTC+7) of the city day D days ago,
 * 1 ms apart.  --tsv: one record per line of FILE ("-": stdin), 17
 * tab-separated fields: transaction id, request id, start (UTC ms),
 * duration (us), consumer org, consumer system, provider org, provider
 * system, service, version, environment, status, upstream status, result
 * (00|01), reason, bytes in, bytes out.  DIR defaults to $LGSP_HOME/spool.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_audit_archive.h"
#include "cp_time.h"
#include "cp_util.h"
#include "lgsp_spool.h"

#define TSV_FIELDS 17

typedef struct {
    long         n, every, pause_us, seg, days_ago;
    int          hold;
    const char  *tag, *tsv;
    char         spool[PATH_MAX];
} gen_opts_t;

static void
usage(void)
{
    fprintf(stderr, "usage: spoolgen [--spool DIR] N [--seg-size BYTES]"
            " [--every K] [--pause-us U] [--hold] [--tag TAG]"
            " [--days-ago D]\n"
            "       spoolgen [--spool DIR] --tsv FILE\n");
    exit(2);
}

static long
num(const char *s, long max)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) {
        usage();
    }
    return v;
}

static void
synthetic(const gen_opts_t *o, lgsp_audit_record_t *r, long i,
          int64_t base_ms, char *txn, char *rid)
{
    static const char *consumers[][2] = {
        { "H26.107", "so-tp-portal" }, { "H26.20", "ubnd-qlvb" },
    };
    static const char *reasons[] = { "no_grant", "rate_limited",
                                     "bad_token" };
    int              k = (int) (i % 2), denied = (i % 5) == 4;
    struct timespec  ts;

    memset(r, 0, sizeof(*r));
    /* the tag replaces leading zeros: ids stay 32 characters */
    snprintf(txn, 64, "%032lx", (unsigned long) i);
    memcpy(txn, o->tag, strlen(o->tag));
    snprintf(rid, 64, "req-%s-%ld", o->tag, i);
    LGSP_AUDIT_SET(r, txn_id, txn, strlen(txn));
    LGSP_AUDIT_SET(r, request_id, rid, strlen(rid));
    LGSP_AUDIT_SET(r, consumer_org, consumers[k][0], strlen(consumers[k][0]));
    LGSP_AUDIT_SET(r, consumer_system, consumers[k][1],
                   strlen(consumers[k][1]));
    LGSP_AUDIT_SET(r, client_id, "cl_test", 7);
    LGSP_AUDIT_SET(r, provider_org, "H26.30", 6);
    LGSP_AUDIT_SET(r, provider_system, "so-tp-hotich", 12);
    LGSP_AUDIT_SET(r, service, k ? "dan-cu" : "ho-tich", k ? 6 : 7);
    LGSP_AUDIT_SET(r, version, "v1", 2);
    LGSP_AUDIT_SET(r, method, i % 3 ? "GET" : "POST", i % 3 ? 3 : 4);
    LGSP_AUDIT_SET(r, route, k ? "dan-cu/v1" : "ho-tich/v1", k ? 9 : 10);
    clock_gettime(CLOCK_REALTIME, &ts);
    r->start_ms = o->days_ago >= 0
                  ? base_ms + i
                  : (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->duration_us = 1000 + i % 977;
    r->environment = (i % 7) == 6 ? LGSP_AUDIT_ENV_SANDBOX
                                  : LGSP_AUDIT_ENV_PRODUCTION;
    r->generation = 3;
    r->bytes_in = 200 + (uint64_t) (i % 13);
    r->bytes_out = denied ? 80 : 1500;
    if (denied) {
        const char *why = reasons[(i / 5) % 3];

        r->status = 403;
        r->result = LGSP_AUDIT_RESULT_FAIL;
        r->upstream_duration_us = -1;
        LGSP_AUDIT_SET(r, reason, why, strlen(why));
    } else {
        r->status = 200;
        r->upstream_status = 200;
        r->upstream_duration_us = 800;
        r->result = LGSP_AUDIT_RESULT_OK;
    }
}

static int
from_tsv(lgsp_audit_record_t *r, char **f)
{
    char route[LGSP_AUDIT_ROUTE];

    memset(r, 0, sizeof(*r));
#define SETF(field, i) LGSP_AUDIT_SET(r, field, f[i], strlen(f[i]))
    SETF(txn_id, 0);
    SETF(request_id, 1);
    r->start_ms = strtoll(f[2], NULL, 10);
    r->duration_us = strtoll(f[3], NULL, 10);
    SETF(consumer_org, 4);
    SETF(consumer_system, 5);
    SETF(provider_org, 6);
    SETF(provider_system, 7);
    SETF(service, 8);
    SETF(version, 9);
    r->environment = strcmp(f[10], "sandbox") == 0
                     ? LGSP_AUDIT_ENV_SANDBOX : LGSP_AUDIT_ENV_PRODUCTION;
    r->status = (uint16_t) atoi(f[11]);
    r->upstream_status = (uint16_t) atoi(f[12]);
    r->result = strcmp(f[13], "00") == 0 ? LGSP_AUDIT_RESULT_OK
                                         : LGSP_AUDIT_RESULT_FAIL;
    SETF(reason, 14);
    r->bytes_in = strtoull(f[15], NULL, 10);
    r->bytes_out = strtoull(f[16], NULL, 10);
#undef SETF
    r->upstream_duration_us = r->upstream_status ? r->duration_us / 2 : -1;
    LGSP_AUDIT_SET(r, method, "GET", 3);
    if (snprintf(route, sizeof(route), "%s/%s", f[8], f[9])
        < (int) sizeof(route))
    {
        LGSP_AUDIT_SET(r, route, route, strlen(route));
    }
    return 0;
}

static long
write_tsv(const gen_opts_t *o, lgsp_spool_t *sp)
{
    lgsp_audit_record_t  r;
    char                 line[2048], *f[TSV_FIELDS];
    FILE                *in;
    long                 lineno = 0, n = 0;

    in = strcmp(o->tsv, "-") == 0 ? stdin : fopen(o->tsv, "r");
    if (in == NULL) {
        fprintf(stderr, "spoolgen: %s: %s\n", o->tsv, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), in) != NULL) {
        char *p = line;
        int   k;

        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        for (k = 0; k < TSV_FIELDS && p != NULL; k++) {
            f[k] = strsep(&p, "\t");
        }
        if (k != TSV_FIELDS || p != NULL) {
            fprintf(stderr, "spoolgen: %s:%ld: %d fields, not %d\n", o->tsv,
                    lineno, k, TSV_FIELDS);
            continue;
        }
        from_tsv(&r, f);
        if (lgsp_spool_append(sp, &r) != 0) {
            fprintf(stderr, "spoolgen: record %ld dropped: %s\n", lineno,
                    strerror(errno));
        }
        n++;
    }
    if (in != stdin) {
        fclose(in);
    }
    printf("%ld\n", n);
    return n;
}

static void
write_synthetic(const gen_opts_t *o, lgsp_spool_t *sp, uint64_t *dropped)
{
    lgsp_audit_record_t  r;
    char                 txn[64], rid[64];
    int64_t              base_ms = 0;

    if (o->days_ago >= 0) {
        int64_t day = cp_audit_city_day(cp_now_ms()) - o->days_ago;

        base_ms = day * 86400000LL - CP_CITY_OFFSET * 1000LL
                  + 12 * 3600000LL;
    }
    for (long i = 0; i < o->n; i++) {
        synthetic(o, &r, i, base_ms, txn, rid);
        if (lgsp_spool_append(sp, &r) != 0) {
            fprintf(stderr, "spoolgen: record %ld dropped: %s\n", i,
                    strerror(errno));
        }
        if (o->every > 0 && (i + 1) % o->every == 0) {
            printf("%ld\n", i + 1);
        }
        if (o->pause_us > 0) {
            usleep((useconds_t) o->pause_us);
        }
    }
    printf("done %ld dropped %llu\n", o->n, (unsigned long long) *dropped);
}

static void
parse(gen_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {
        { "spool", required_argument, NULL, 'S' },
        { "tsv", required_argument, NULL, 'T' },
        { "seg-size", required_argument, NULL, 's' },
        { "every", required_argument, NULL, 'e' },
        { "pause-us", required_argument, NULL, 'p' },
        { "tag", required_argument, NULL, 't' },
        { "days-ago", required_argument, NULL, 'd' },
        { "hold", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *home = getenv("LGSP_HOME");
    int         c;

    memset(o, 0, sizeof(*o));
    o->n = -1;
    o->days_ago = -1;
    o->tag = "t";
    if (home != NULL) {
        snprintf(o->spool, sizeof(o->spool), "%s/spool", home);
    }
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'S':
            snprintf(o->spool, sizeof(o->spool), "%s", optarg);
            break;
        case 'T': o->tsv = optarg; break;
        case 's': o->seg = num(optarg, LONG_MAX); break;
        case 'e': o->every = num(optarg, LONG_MAX); break;
        case 'p': o->pause_us = num(optarg, 10000000); break;
        case 't': o->tag = optarg; break;
        case 'd': o->days_ago = num(optarg, 100000); break;
        case 'h': o->hold = 1; break;
        default: usage();
        }
    }
    if (optind < argc) {
        o->n = num(argv[optind++], LONG_MAX);
    }
    if (optind != argc || (o->tsv == NULL) == (o->n < 0)
        || strlen(o->tag) > 8 || o->spool[0] == '\0')
    {
        usage();
    }
}

int
main(int argc, char **argv)
{
    gen_opts_t    o;
    lgsp_spool_t  sp;
    uint64_t      dropped = 0;
    long          n = 0;

    parse(&o, argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (lgsp_spool_init(&sp, o.spool, (size_t) o.seg, &dropped) != 0) {
        fprintf(stderr, "spoolgen: %s: %s\n", o.spool, strerror(errno));
        return 1;
    }
    if (o.tsv != NULL) {
        n = write_tsv(&o, &sp);
    } else {
        write_synthetic(&o, &sp, &dropped);
    }
    if (o.hold) {
        for (;;) {
            pause();
        }
    }
    lgsp_spool_close(&sp);
    return n < 0 || dropped ? 1 : 0;
}
