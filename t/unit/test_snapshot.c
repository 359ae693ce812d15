/*
 * Snapshots: lgsp.db compiled by cp_snapshot.c, read back by
 * lgsp_snapshot.c with every lookup; then every malformed input the loader
 * must refuse with a message (never a crash).
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include <openssl/evp.h>

#include "cp_snapshot.h"
#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_snapshot.h"

static char       dir[64];
static char       dbpath[128];
static sqlite3   *db;
static int64_t    now_s;

static void
sql(const char *q)
{
    char *msg = NULL;

    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK) {
        ck_abort_msg("%s: %s", q, msg);
    }
}

/* A small registry: two agencies (one closed), systems, services in every
 * state, grants, credentials, keys and an external issuer. */
static void
setup(void)
{
    const char  *why;
    char         q[2048];

    strcpy(dir, "/tmp/lgsp-snap-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(dbpath, sizeof(dbpath), "%s/lgsp.db", dir);
    db = cp_db_open(dbpath, 1);
    ck_assert_ptr_nonnull(db);
    ck_assert_int_eq(cp_db_migrate(db, &why), 0);
    now_s = cp_now();

    sql("INSERT INTO agencies (id, code, name, created_at) VALUES"
        " (1, 'H26', 'Ha Noi', 0),"
        " (2, 'H26.107', 'So KHCN', 0)");
    sql("UPDATE agencies SET parent_id = 1 WHERE id = 2");
    sql("INSERT INTO agencies (id, code, name, state, created_at) VALUES"
        " (3, 'H26.200', 'Closed dept', 'closed', 0)");
    sql("INSERT INTO agency_codes (code, agency_id, kind) VALUES"
        " ('H26', 1, 'canonical'), ('000.00.00.H26', 1, 'alias'),"
        " ('H26.107', 2, 'canonical'), ('H26.99', 2, 'former'),"
        " ('H26.200', 3, 'canonical')");
    sql("INSERT INTO systems (id, ident, agency_id, name, suspended,"
        " created_at) VALUES"
        " (10, 'hotich', 1, 'Ho tich', 0, 0),"
        " (11, 'dvc', 2, 'DVC', 0, 0),"
        " (12, 'sleepy', 2, 'Suspended', 1, 0),"
        " (13, 'gone', 3, 'Closed agency system', 0, 0)");
    snprintf(q, sizeof(q),
        "INSERT INTO services (id, code, provider_system_id, name, suspended,"
        " end_at, created_at) VALUES"
        " (20, 'hotich', 10, 'Ho tich', 0, NULL, 0),"
        " (21, 'paused', 10, 'Suspended svc', 1, NULL, 0),"
        " (22, 'bysleepy', 12, 'From suspended system', 0, NULL, 0),"
        " (23, 'closedsvc', 13, 'From closed agency', 0, NULL, 0),"
        " (24, 'ended', 10, 'Ended', 0, %lld, 0)",
        (long long) now_s - 10);
    sql(q);
    snprintf(q, sizeof(q),
        "INSERT INTO versions (id, service_id, version, state, upstream,"
        " sandbox_upstream, methods, rate, burst, upstream_header,"
        " timeout_ms, body_limit, fail_fast, deprecated_at, sunset_at,"
        " created_at) VALUES"
        " (30, 20, 'v1', 'deprecated', 'http://127.0.0.1:8081/api/v1',"
        "  NULL, 'GET,POST', 50, 100, 'X-Api-Key: s3cr3t', 5000, 2048, 1,"
        "  100, %lld, 0),"
        " (31, 20, 'v2', 'published', 'https://[::1]:8443/v2',"
        "  'http://127.0.0.1:9000/sbx', 'GET, delete', 0, 0, NULL, 30000,"
        "  1048576, 0, NULL, NULL, 0),"
        " (32, 20, 'v3', 'sandbox', 'http://127.0.0.1/', NULL, 'GET', 0, 0,"
        "  NULL, 30000, 1, 0, NULL, NULL, 0),"
        " (33, 20, 'v0', 'retired', 'ftp://nope', NULL, 'GET', 0, 0, NULL,"
        "  30000, 1, 0, NULL, NULL, 0),"
        " (34, 20, 'v4', 'draft', 'http://user@host/', NULL, 'GET', 0, 0,"
        "  NULL, 30000, 1, 0, NULL, NULL, 0),"
        " (35, 21, 'v1', 'published', 'http://127.0.0.1:1/', NULL, 'GET',"
        "  0, 0, NULL, 30000, 1, 0, NULL, NULL, 0),"
        " (36, 22, 'v1', 'published', 'http://127.0.0.1:1/', NULL, 'GET',"
        "  0, 0, NULL, 30000, 1, 0, NULL, NULL, 0),"
        " (37, 23, 'v1', 'published', 'http://127.0.0.1:1/', NULL, 'GET',"
        "  0, 0, NULL, 30000, 1, 0, NULL, NULL, 0),"
        " (38, 24, 'v1', 'published', 'http://127.0.0.1:1/', NULL, 'GET',"
        "  0, 0, NULL, 30000, 1, 0, NULL, %lld, 0),"
        " (39, 20, 'v9', 'published', 'http://127.0.0.1:99999/', NULL,"
        "  'GET', 0, 0, NULL, 30000, 1, 0, NULL, %lld, 0)",
        (long long) now_s + 86400 * 200, (long long) now_s - 5,
        (long long) now_s + 3600);
    sql(q);
    sql("UPDATE versions SET suspended = 1 WHERE id = 32");
    sql("INSERT INTO grants (id, consumer_system_id, version_id, env, rate,"
        " burst, quota, state, created_at) VALUES"
        " (40, 11, 31, 'production', 20, 40, 1000, 'active', 0),"
        " (41, 11, 31, 'sandbox', 5, 5, NULL, 'suspended', 0),"
        " (42, 11, 30, 'production', 1, 1, NULL, 'revoked', 0)");
    sql("INSERT INTO credentials (id, client_id, system_id, env, secret_hash,"
        " state, created_at) VALUES"
        " (50, 'c-live', 11, 'production', x'00', 'active', 0),"
        " (51, 'c-dead', 11, 'production', x'00', 'revoked', 0),"
        " (52, 'c-sbx', 11, 'sandbox', x'00', 'active', 0)");
    snprintf(q, sizeof(q),
        "INSERT INTO signing_keys (id, kid, alg, public_der, state,"
        " created_at, verify_until) VALUES"
        " (60, 'k-active', 'RS256', x'3082aa00bb', 'active', 0, NULL),"
        " (61, 'k-retiring', 'ES256', x'30', 'retiring', 0, %lld),"
        " (62, 'k-revoked', 'RS256', x'30', 'revoked', 0, NULL),"
        " (63, 'k-expired', 'RS256', x'30', 'retiring', 0, %lld)",
        (long long) now_s + 600, (long long) now_s - 1);
    sql(q);
    sql("INSERT INTO issuers (id, iss, env, audience, jwks_source,"
        " system_claim, created_at) VALUES"
        " (70, 'https://vdxp.gov.vn', 'production', 'lgsp-hn', 'file',"
        "  'client_id', 0),"
        " (71, 'https://vdxp.gov.vn', 'sandbox', 'lgsp-hn-test', 'file',"
        "  'sub', 0)");
}

static void
rm_rf(const char *d)
{
    DIR            *dp = opendir(d);
    struct dirent  *de;
    char            p[512];

    if (dp == NULL) {
        return;
    }
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
            unlink(p);
        }
    }
    closedir(dp);
    rmdir(d);
}

static void
teardown(void)
{
    sqlite3_close(db);
    rm_rf(dir);
}

static void
compile(cp_snapshot_t *out, uint64_t gen)
{
    cp_snapshot_opts_t  o = { "https://lgsp.example.vn", gen, cp_now_ms(),
                              NULL };
    char                err[256];

    ck_assert_msg(cp_snapshot_compile(db, &o, out, err, sizeof(err)) == 0,
                  "compile: %s", err);
}

/* An 8-byte aligned private copy, as a mapping would be. */
static uint8_t *
copy(const cp_snapshot_t *s, size_t size)
{
    uint8_t *p = aligned_alloc(8, (size + 8) & ~(size_t) 7);

    ck_assert_ptr_nonnull(p);
    memcpy(p, s->data, size < s->size ? size : s->size);
    return p;
}

static size_t  good_size_limit = SIZE_MAX;

static void
reseal(uint8_t *file)
{
    lgsp_snap_header_t  *h = (lgsp_snap_header_t *) file;
    size_t               off = sizeof(*h) + h->nsections
                               * sizeof(lgsp_snap_section_t);
    unsigned int         n;

    /* only what the test buffer holds: a corrupted header may lie */
    if (h->nsections > 4096 || off > h->file_size
        || h->file_size > good_size_limit)
    {
        return;
    }
    EVP_Digest(file + off, h->file_size - off, h->body_sha256, &n,
               EVP_sha256(), NULL);
}

static lgsp_snap_section_t *
section(uint8_t *file, uint32_t kind)
{
    lgsp_snap_header_t   *h = (lgsp_snap_header_t *) file;
    lgsp_snap_section_t  *t = (lgsp_snap_section_t *) (file + sizeof(*h));

    for (uint32_t i = 0; i < h->nsections; i++) {
        if (t[i].kind == kind) {
            return &t[i];
        }
    }
    ck_abort_msg("no section %u", kind);
    return NULL;
}

static void *
records(uint8_t *file, uint32_t kind)
{
    return file + section(file, kind)->offset;
}

static int
sv_is(lgsp_sv_t sv, const char *s)
{
    return sv.len == strlen(s) && memcmp(sv.data, s, sv.len) == 0
           && sv.data[sv.len] == '\0';
}

#define SV(snap, f)  lgsp_snap_sv(snap, f)
#define ROUTE(snap, r)  lgsp_snap_route(snap, r, strlen(r))

/* ---- round trip ------------------------------------------------------- */

START_TEST(round_trip_every_lookup)
{
    cp_snapshot_t                  cs;
    lgsp_snapshot_t                s;
    char                           err[256];
    uint8_t                       *f;
    const lgsp_snap_version_t     *v;
    const lgsp_snap_agency_t      *a;
    const lgsp_snap_system_t      *sy;
    const lgsp_snap_credential_t  *c;
    const lgsp_snap_grant_t       *g;
    const lgsp_snap_key_t         *k;
    const lgsp_snap_issuer_t      *is;

    compile(&cs, 7);
    f = copy(&cs, cs.size);
    ck_assert_msg(lgsp_snapshot_load(&s, f, cs.size, err, sizeof(err)) == 0,
                  "load: %s", err);
    ck_assert_uint_eq(s.header->generation, 7);
    ck_assert_uint_eq(s.nagencies, 3);
    ck_assert_uint_eq(cs.agencies, 3);
    ck_assert_uint_eq(s.nsystems, 4);
    ck_assert_uint_eq(s.ncredentials, 2);     /* revoked left out */
    ck_assert_uint_eq(s.nversions, 10);       /* every state travels */
    ck_assert_uint_eq(s.ngrants, 2);          /* revoked left out */
    ck_assert_uint_eq(s.nkeys, 2);            /* active + retiring */
    ck_assert_uint_eq(s.nissuers, 3);         /* platform + 2 */
    ck_assert_int_eq(cs.next_due, now_s + 600);   /* k-retiring */

    /* agencies: canonical, alias, former, absent; parent; closed */
    a = lgsp_snap_agency_by_code(&s, "H26", 3);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->id, 1);
    ck_assert(lgsp_snap_agency_by_code(&s, "000.00.00.H26", 13) == a);
    a = lgsp_snap_agency_by_code(&s, "H26.99", 6);
    ck_assert_ptr_nonnull(a);
    ck_assert(sv_is(SV(&s, a->code), "H26.107"));
    ck_assert(sv_is(SV(&s, a->name), "So KHCN"));
    ck_assert_uint_eq(s.agencies[a->parent].id, 1);
    ck_assert_uint_eq(s.agencies[0].parent, LGSP_SNAP_NONE);
    ck_assert_ptr_null(lgsp_snap_agency_by_code(&s, "H26.10", 6));
    ck_assert_ptr_null(lgsp_snap_agency_by_code(&s, "", 0));
    a = lgsp_snap_agency_by_code(&s, "H26.200", 7);
    ck_assert(a && (a->flags & LGSP_AGENCY_CLOSED));
    ck_assert(!(s.agencies[0].flags & LGSP_AGENCY_CLOSED));

    /* systems by ident and id */
    sy = lgsp_snap_system(&s, "dvc", 3);
    ck_assert(sy && sy->id == 11 && s.agencies[sy->agency].id == 2);
    ck_assert(lgsp_snap_system_by_id(&s, 11) == sy);
    ck_assert(lgsp_snap_system(&s, "sleepy", 6)->flags
              & LGSP_SYSTEM_SUSPENDED);
    ck_assert(!(sy->flags & LGSP_SYSTEM_SUSPENDED));
    ck_assert_ptr_null(lgsp_snap_system(&s, "dv", 2));
    ck_assert_ptr_null(lgsp_snap_system_by_id(&s, 14));

    /* credentials: active only */
    c = lgsp_snap_credential(&s, "c-live", 6);
    ck_assert(c && c->id == 50 && c->env == LGSP_ENV_PRODUCTION);
    ck_assert(s.systems[c->system].id == 11);
    ck_assert(lgsp_snap_credential_by_id(&s, 50) == c);
    ck_assert_ptr_null(lgsp_snap_credential(&s, "c-dead", 6));
    ck_assert_ptr_null(lgsp_snap_credential_by_id(&s, 51));
    ck_assert_uint_eq(lgsp_snap_credential(&s, "c-sbx", 5)->env,
                      LGSP_ENV_SANDBOX);

    /* versions: state folded into flags */
    v = ROUTE(&s, "hotich/v1");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->id, 30);
    ck_assert_uint_eq(v->service_id, 20);
    ck_assert(sv_is(SV(&s, v->service), "hotich"));
    ck_assert(sv_is(SV(&s, v->version), "v1"));
    ck_assert_uint_eq(v->flags, LGSP_VERSION_SANDBOX | LGSP_VERSION_PRODUCTION
                      | LGSP_VERSION_DEPRECATED | LGSP_VERSION_FAIL_FAST);
    ck_assert(sv_is(SV(&s, v->successor), "hotich/v2"));
    ck_assert_uint_eq(v->methods, LGSP_METHOD_GET | LGSP_METHOD_POST);
    ck_assert_uint_eq(v->rate, 50);
    ck_assert_uint_eq(v->burst, 100);
    ck_assert_uint_eq(v->timeout_ms, 5000);
    ck_assert_uint_eq(v->body_limit, 2048);
    ck_assert_int_eq(v->deprecated_at, 100);
    ck_assert_int_eq(v->sunset_at, now_s + 86400 * 200);
    ck_assert(sv_is(SV(&s, v->upstream_header_name), "X-Api-Key"));
    ck_assert(sv_is(SV(&s, v->upstream_header_value), "s3cr3t"));
    ck_assert_uint_eq(s.systems[v->provider].id, 10);
    for (int e = 0; e < 2; e++) {
        const lgsp_snap_upstream_t *u = &v->upstream[e];
        ck_assert(sv_is(SV(&s, u->url), "http://127.0.0.1:8081/api/v1"));
        ck_assert(sv_is(SV(&s, u->host), "127.0.0.1"));
        ck_assert(sv_is(SV(&s, u->path), "/api/v1"));
        ck_assert_uint_eq(u->port, 8081);
        ck_assert_uint_eq(u->tls, 0);
        ck_assert_uint_eq(u->family, 4);
        ck_assert(memcmp(u->addr, "\x7f\x00\x00\x01", 4) == 0);
    }

    v = ROUTE(&s, "hotich/v2");
    ck_assert_uint_eq(v->flags, LGSP_VERSION_SANDBOX
                      | LGSP_VERSION_PRODUCTION);
    ck_assert_uint_eq(v->successor.len, 0);
    ck_assert_uint_eq(v->methods, LGSP_METHOD_GET | LGSP_METHOD_DELETE);
    ck_assert_uint_eq(v->upstream_header_name.len, 0);
    ck_assert(sv_is(SV(&s, v->upstream[0].host), "::1"));
    ck_assert_uint_eq(v->upstream[0].port, 8443);
    ck_assert_uint_eq(v->upstream[0].tls, 1);
    ck_assert_uint_eq(v->upstream[0].family, 6);
    ck_assert(sv_is(SV(&s, v->upstream[0].path), "/v2"));
    /* sandbox calls go to the sandbox upstream when one is set */
    ck_assert(sv_is(SV(&s, v->upstream[1].path), "/sbx"));
    ck_assert_uint_eq(v->upstream[1].port, 9000);

    ck_assert_uint_eq(ROUTE(&s, "hotich/v3")->flags,
                      LGSP_VERSION_SANDBOX | LGSP_VERSION_SUSPENDED);
    ck_assert_uint_eq(ROUTE(&s, "hotich/v3")->upstream[0].port, 80);
    ck_assert(sv_is(SV(&s, ROUTE(&s, "hotich/v3")->upstream[0].path), "/"));
    v = ROUTE(&s, "hotich/v0");
    ck_assert_uint_eq(v->flags, LGSP_VERSION_RETIRED);
    ck_assert_uint_eq(v->upstream[0].family, 0);      /* ftp: unresolved */
    v = ROUTE(&s, "hotich/v4");
    ck_assert_uint_eq(v->flags, 0);                    /* draft */
    ck_assert_uint_eq(v->upstream[0].family, 0);      /* userinfo refused */
    ck_assert_uint_eq(ROUTE(&s, "hotich/v9")->upstream[0].family, 0);
    ck_assert_int_eq(ROUTE(&s, "hotich/v9")->end_at, 0);
    ck_assert(ROUTE(&s, "paused/v1")->flags & LGSP_VERSION_SUSPENDED);
    ck_assert(ROUTE(&s, "bysleepy/v1")->flags & LGSP_VERSION_SUSPENDED);
    ck_assert(ROUTE(&s, "closedsvc/v1")->flags & LGSP_VERSION_RETIRED);
    ck_assert(!(ROUTE(&s, "closedsvc/v1")->flags & LGSP_VERSION_SUSPENDED));
    ck_assert(ROUTE(&s, "ended/v1")->flags & LGSP_VERSION_RETIRED);
    ck_assert(!(ROUTE(&s, "hotich/v2")->flags & LGSP_VERSION_RETIRED));
    ck_assert_ptr_null(ROUTE(&s, "hotich/v5"));
    ck_assert_ptr_null(ROUTE(&s, "hotich"));
    ck_assert_ptr_null(ROUTE(&s, "hotich/v1/"));

    /* grants by (system id, version id, environment) */
    g = lgsp_snap_grant(&s, 11, 31, LGSP_ENV_PRODUCTION);
    ck_assert(g && g->id == 40 && g->rate == 20 && g->burst == 40
              && g->quota == 1000 && g->flags == 0);
    ck_assert_uint_eq(s.versions[g->version].id, 31);
    ck_assert_uint_eq(s.systems[g->consumer].id, 11);
    g = lgsp_snap_grant(&s, 11, 31, LGSP_ENV_SANDBOX);
    ck_assert(g && g->id == 41 && (g->flags & LGSP_GRANT_SUSPENDED)
              && g->quota == 0);
    ck_assert_ptr_null(lgsp_snap_grant(&s, 11, 30, LGSP_ENV_PRODUCTION));
    ck_assert_ptr_null(lgsp_snap_grant(&s, 10, 31, LGSP_ENV_PRODUCTION));
    ck_assert_ptr_null(lgsp_snap_grant(&s, 11, 31, 7));

    /* keys: platform ones not revoked and not past verify_until */
    k = lgsp_snap_key(&s, "k-active", 8);
    ck_assert(k && k->id == 60 && k->alg == LGSP_ALG_RS256
              && k->issuer == 0 && k->verify_until == 0);
    ck_assert_uint_eq(k->der.len, 5);
    ck_assert(memcmp(s.strings + k->der.off, "\x30\x82\xaa\x00\xbb", 5)
              == 0);
    k = lgsp_snap_key(&s, "k-retiring", 10);
    ck_assert(k && k->alg == LGSP_ALG_ES256
              && k->verify_until == now_s + 600);
    ck_assert_ptr_null(lgsp_snap_key(&s, "k-revoked", 9));
    ck_assert_ptr_null(lgsp_snap_key(&s, "k-expired", 9));
    ck_assert_ptr_null(lgsp_snap_key(&s, "k", 1));

    /* issuers: the platform at index 0, external ones per environment */
    is = lgsp_snap_issuer(&s, "https://lgsp.example.vn", 23);
    ck_assert(is == &s.issuers[0] && (is->flags & LGSP_ISSUER_PLATFORM));
    is = lgsp_snap_issuer_env(&s, "https://vdxp.gov.vn", 19,
                              LGSP_ENV_SANDBOX);
    ck_assert(is && is->id == 71 && sv_is(SV(&s, is->audience),
                                          "lgsp-hn-test"));
    is = lgsp_snap_issuer_env(&s, "https://vdxp.gov.vn", 19,
                              LGSP_ENV_PRODUCTION);
    ck_assert(is && is->id == 70 && sv_is(SV(&s, is->system_claim),
                                          "client_id"));
    ck_assert_ptr_nonnull(lgsp_snap_issuer(&s, "https://vdxp.gov.vn", 19));
    ck_assert_ptr_null(lgsp_snap_issuer(&s, "https://evil", 12));

    free(f);
    cp_snapshot_free(&cs);
}
END_TEST

START_TEST(empty_registry_loads)
{
    cp_snapshot_t    cs;
    lgsp_snapshot_t  s;
    char             err[256];
    uint8_t         *f;

    sql("DELETE FROM grants; DELETE FROM credentials; DELETE FROM versions;"
        " DELETE FROM services; DELETE FROM systems;"
        " DELETE FROM agency_codes; DELETE FROM agencies;"
        " DELETE FROM signing_keys; DELETE FROM issuers;");
    compile(&cs, 1);
    f = copy(&cs, cs.size);
    ck_assert_msg(lgsp_snapshot_load(&s, f, cs.size, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.nversions, 0);
    ck_assert_ptr_null(ROUTE(&s, "a/b"));
    ck_assert_ptr_null(lgsp_snap_grant(&s, 1, 2, 0));
    ck_assert_ptr_nonnull(lgsp_snap_issuer(&s, "https://lgsp.example.vn",
                                           23));
    free(f);
    cp_snapshot_free(&cs);
}
END_TEST

START_TEST(publish_control_and_prune)
{
    cp_snapshot_t  cs;
    char           err[256], path[256];
    struct stat    sb;

    ck_assert_uint_eq(cp_snapshot_current(dir), 0);
    for (uint64_t g = 1; g <= 6; g++) {
        compile(&cs, g);
        ck_assert_msg(cp_snapshot_publish(dir, &cs, err, sizeof(err)) == 0,
                      "%s", err);
        cp_snapshot_free(&cs);
        ck_assert_uint_eq(cp_snapshot_current(dir), g);
    }
    snprintf(path, sizeof(path), "%s/current", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, LGSP_SNAP_CONTROL_SIZE);
    snprintf(path, sizeof(path), "%s/snap.6", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, CP_SNAPSHOT_MODE);

    /* a writer that died mid-write left a .tmp of a later generation */
    snprintf(path, sizeof(path), "%s/snap.9.tmp", dir);
    fclose(fopen(path, "w"));
    ck_assert_uint_eq(cp_snapshot_last_generation(dir), 9);

    ck_assert_int_eq(cp_snapshot_prune(dir, 6, 2), 3);  /* 1, 2, 3 */
    snprintf(path, sizeof(path), "%s/snap.3", dir);
    ck_assert_int_ne(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/snap.4", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(cp_snapshot_current(dir), 6);
}
END_TEST

/* ---- malformed input -------------------------------------------------- */

static cp_snapshot_t  good;

static void
malformed_setup(void)
{
    setup();
    compile(&good, 3);
    good_size_limit = good.size + 48;
}

static void
malformed_teardown(void)
{
    cp_snapshot_free(&good);
    teardown();
}

/* Loading must fail with a message containing fragment. */
static void
refused(const uint8_t *f, size_t size, const char *fragment)
{
    lgsp_snapshot_t  s;
    char             err[256] = "";

    ck_assert_int_eq(lgsp_snapshot_load(&s, f, size, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, fragment) != NULL, "\"%s\" lacks \"%s\"", err,
                  fragment);
    ck_assert_ptr_null(s.base);
}

START_TEST(truncated_at_every_length)
{
    uint8_t  *f = copy(&good, good.size);

    for (size_t n = 0; n < good.size; n += (n < 512 ? 1 : 61)) {
        lgsp_snapshot_t  s;
        char             err[256] = "";

        ck_assert_int_eq(lgsp_snapshot_load(&s, f, n, err, sizeof(err)), -1);
        ck_assert(err[0] != '\0');
    }
    refused(NULL, 0, "shorter than the header");
    free(f);
}
END_TEST

START_TEST(truncated_with_header_fixed)
{
    /* the header says the short size and the checksum matches: the section
     * table itself must be caught */
    for (size_t n = sizeof(lgsp_snap_header_t); n < good.size; n += 8) {
        uint8_t          *f = copy(&good, good.size);
        lgsp_snapshot_t   s;
        char              err[256] = "";

        ((lgsp_snap_header_t *) f)->file_size = n;
        if (n >= sizeof(lgsp_snap_header_t) + 18 * sizeof(lgsp_snap_section_t))
        {
            reseal(f);
        }
        ck_assert_int_eq(lgsp_snapshot_load(&s, f, n, err, sizeof(err)), -1);
        free(f);
    }
}
END_TEST

START_TEST(wrong_magic_major_checksum)
{
    uint8_t  *f = copy(&good, good.size);

    f[0] = 'X';
    refused(f, good.size, "magic");
    memcpy(f, good.data, good.size);
    ((lgsp_snap_header_t *) f)->major = LGSP_SNAP_MAJOR + 1;
    refused(f, good.size, "major");
    memcpy(f, good.data, good.size);
    f[good.size - 1] ^= 0x55;
    refused(f, good.size, "checksum");
    memcpy(f, good.data, good.size);
    ((lgsp_snap_header_t *) f)->body_sha256[0] ^= 1;
    refused(f, good.size, "checksum");
    free(f);
}
END_TEST

START_TEST(newer_minor_unknown_section_accepted)
{
    const lgsp_snap_header_t  *gh = (const void *) good.data;
    size_t                     table = sizeof(*gh)
                                       + gh->nsections
                                         * sizeof(lgsp_snap_section_t);
    size_t                     size = good.size + 32 + 16;
    uint8_t                   *f = aligned_alloc(8, size);
    lgsp_snap_header_t        *h = (void *) f;
    lgsp_snap_section_t       *t;
    lgsp_snapshot_t            s;
    char                       err[256];

    /* one more table entry (32 bytes) shifts every section by 32 */
    memcpy(f, good.data, table);
    memset(f + table, 0, 32);
    memcpy(f + table + 32, good.data + table, good.size - table);
    memcpy(f + good.size + 32, "future section!", 16);
    t = (lgsp_snap_section_t *) (f + sizeof(*h));
    for (uint32_t i = 0; i < h->nsections; i++) {
        t[i].offset += 32;
    }
    t[h->nsections].kind = 200;
    t[h->nsections].record_size = 16;
    t[h->nsections].offset = good.size + 32;
    t[h->nsections].size = 16;
    t[h->nsections].count = 1;
    h->nsections++;
    h->minor = LGSP_SNAP_MINOR + 1;
    h->file_size = size;
    reseal(f);
    ck_assert_msg(lgsp_snapshot_load(&s, f, size, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_ptr_nonnull(ROUTE(&s, "hotich/v2"));

    /* the unknown section must still lie inside the file */
    t[h->nsections - 1].size = 17;
    reseal(f);
    refused(f, size, "out of bounds");
    free(f);
}
END_TEST

START_TEST(sections_out_of_bounds)
{
    uint8_t              *f = copy(&good, good.size);
    lgsp_snap_section_t  *sec;

#define RESET() memcpy(f, good.data, good.size)
    sec = section(f, LGSP_SEC_VERSIONS);
    sec->offset = good.size + 8;
    reseal(f);
    refused(f, good.size, "out of bounds");

    RESET();
    sec = section(f, LGSP_SEC_VERSIONS);
    sec->size += 8 * sizeof(lgsp_snap_version_t) + good.size;
    sec->count += 8 + (uint32_t) (good.size / sizeof(lgsp_snap_version_t));
    reseal(f);
    refused(f, good.size, "out of bounds");

    RESET();
    sec = section(f, LGSP_SEC_GRANTS);
    sec->offset = 0;                       /* over the header */
    reseal(f);
    refused(f, good.size, "out of bounds");

    RESET();
    sec = section(f, LGSP_SEC_GRANTS);
    sec->offset = UINT64_MAX - 4;          /* offset + size wraps */
    reseal(f);
    refused(f, good.size, "out of bounds");

    RESET();
    sec = section(f, LGSP_SEC_GRANTS);
    sec->count++;                          /* count disagrees with size */
    reseal(f);
    refused(f, good.size, "records of");

    RESET();
    sec = section(f, LGSP_SEC_GRANTS);
    sec->record_size = 32;
    reseal(f);
    refused(f, good.size, "record size");

    RESET();
    sec = section(f, LGSP_SEC_GRANTS);
    sec->offset += 4;
    reseal(f);
    refused(f, good.size, "aligned");

    RESET();
    section(f, LGSP_SEC_GRANTS)->kind = LGSP_SEC_SYSTEMS;
    section(f, LGSP_SEC_SYSTEMS)->record_size = sizeof(lgsp_snap_system_t);
    reseal(f);
    refused(f, good.size, "");             /* twice, or sizes disagree */

    RESET();
    section(f, LGSP_SEC_STRINGS)->kind = 199;
    reseal(f);
    refused(f, good.size, "no strings");

    RESET();
    ((lgsp_snap_header_t *) f)->nsections = 100000;
    reseal(f);
    refused(f, good.size, "section table");
    free(f);
#undef RESET
}
END_TEST

START_TEST(string_refs_out_of_bounds)
{
    uint8_t              *f = copy(&good, good.size);
    lgsp_snap_version_t  *v;
    lgsp_snap_key_t      *k;
    lgsp_snap_section_t  *strs;

    strs = section(f, LGSP_SEC_STRINGS);
    v = records(f, LGSP_SEC_VERSIONS);
    v[0].route.off = (uint32_t) strs->size;
    reseal(f);
    refused(f, good.size, "version 0: string out of bounds");

    memcpy(f, good.data, good.size);
    v = records(f, LGSP_SEC_VERSIONS);
    v[1].upstream[1].host.len = UINT32_MAX;     /* off + len wraps 32 bits */
    reseal(f);
    refused(f, good.size, "upstream string out of bounds");

    memcpy(f, good.data, good.size);
    v = records(f, LGSP_SEC_VERSIONS);
    v[0].route.len++;                            /* no NUL after it */
    reseal(f);
    refused(f, good.size, "string out of bounds");

    memcpy(f, good.data, good.size);
    k = records(f, LGSP_SEC_KEYS);
    k[0].der.off = (uint32_t) strs->size - 1;
    k[0].der.len = 1;
    reseal(f);
    refused(f, good.size, "key 0: string out of bounds");
    free(f);
}
END_TEST

START_TEST(record_indexes_out_of_range)
{
    uint8_t  *f = copy(&good, good.size);

#define CASE(type, kind, field, value, fragment)                             \
    memcpy(f, good.data, good.size);                                         \
    ((type *) records(f, kind))[0].field = value;                            \
    reseal(f);                                                               \
    refused(f, good.size, fragment);

    CASE(lgsp_snap_grant_t, LGSP_SEC_GRANTS, version, 10,
         "grant 0: version 10 out of range");
    CASE(lgsp_snap_grant_t, LGSP_SEC_GRANTS, consumer, LGSP_SNAP_NONE,
         "grant 0: consumer");
    CASE(lgsp_snap_grant_t, LGSP_SEC_GRANTS, env, 2, "environment");
    CASE(lgsp_snap_agency_t, LGSP_SEC_AGENCIES, parent, 3, "parent 3");
    CASE(lgsp_snap_agency_code_t, LGSP_SEC_AGENCY_CODES, agency, 3,
         "agency code 0: agency 3");
    CASE(lgsp_snap_system_t, LGSP_SEC_SYSTEMS, agency, 99, "system 0");
    CASE(lgsp_snap_credential_t, LGSP_SEC_CREDENTIALS, system, 4,
         "credential 0");
    CASE(lgsp_snap_version_t, LGSP_SEC_VERSIONS, provider, 4, "provider 4");
    CASE(lgsp_snap_version_t, LGSP_SEC_VERSIONS, upstream[0].family, 5,
         "family 5");
    CASE(lgsp_snap_key_t, LGSP_SEC_KEYS, issuer, 3, "key 0: issuer 3");
    CASE(lgsp_snap_key_t, LGSP_SEC_KEYS, alg, 3, "algorithm");
#undef CASE
    free(f);
}
END_TEST

START_TEST(index_faults)
{
    uint8_t              *f = copy(&good, good.size);
    lgsp_snap_section_t  *sec;
    lgsp_snap_slot_t     *sl;
    const void           *key;
    uint8_t               kb[20];
    lgsp_snapshot_t       view;

    /* a full index: every slot names key 0 with its right hash, so each
     * slot passes on its own, and a probe for an absent kid would cycle */
    sec = section(f, LGSP_SEC_IDX_KEY);
    sl = (lgsp_snap_slot_t *) (f + sec->offset);
    memset(&view, 0, sizeof(view));
    view.strings = (const char *) f + section(f, LGSP_SEC_STRINGS)->offset;
    view.keys = records(f, LGSP_SEC_KEYS);
    for (uint32_t i = 0; i < sec->count; i++) {
        size_t len = lgsp_snap_index_key(&view, LGSP_SEC_IDX_KEY, 0, &key,
                                         kb);
        sl[i].hash = lgsp_snap_hash(key, len);
        sl[i].record = 1;
    }
    reseal(f);
    refused(f, good.size, "key index: no empty slot");

    memcpy(f, good.data, good.size);
    sec = section(f, LGSP_SEC_IDX_ROUTE);
    sl = (lgsp_snap_slot_t *) (f + sec->offset);
    for (uint32_t i = 0; i < sec->count; i++) {
        if (sl[i].record) {
            sl[i].record = 11;            /* 10 versions */
            break;
        }
    }
    reseal(f);
    refused(f, good.size, "route index: slot");

    memcpy(f, good.data, good.size);
    sec = section(f, LGSP_SEC_IDX_GRANT);
    sl = (lgsp_snap_slot_t *) (f + sec->offset);
    for (uint32_t i = 0; i < sec->count; i++) {
        if (sl[i].record) {
            sl[i].hash ^= 1;
            break;
        }
    }
    reseal(f);
    refused(f, good.size, "grant index: slot");

    memcpy(f, good.data, good.size);
    sec = section(f, LGSP_SEC_IDX_SYSTEM);
    sec->count = 3;
    sec->size = 3 * sizeof(lgsp_snap_slot_t);
    reseal(f);
    refused(f, good.size, "power of two");
    free(f);
}
END_TEST

START_TEST(random_corruption_never_crashes)
{
    uint8_t   *f = copy(&good, good.size);
    unsigned   seed = 12345;

    /* flip bytes after the checksum is recomputed: the structure checks
     * alone must hold */
    for (int round = 0; round < 3000; round++) {
        lgsp_snapshot_t  s;
        char             err[256];

        memcpy(f, good.data, good.size);
        for (int j = 0; j < 1 + round % 4; j++) {
            size_t at = (size_t) rand_r(&seed) % good.size;
            f[at] = (uint8_t) rand_r(&seed);
        }
        reseal(f);
        if (lgsp_snapshot_load(&s, f, good.size, err, sizeof(err)) == 0) {
            /* accepted: every lookup must stay inside */
            ROUTE(&s, "hotich/v1");
            lgsp_snap_agency_by_code(&s, "H26", 3);
            lgsp_snap_grant(&s, 11, 31, 0);
            lgsp_snap_key(&s, "nope", 4);
            lgsp_snap_issuer_env(&s, "https://vdxp.gov.vn", 19, 1);
        }
    }
    free(f);
}
END_TEST

Suite *
snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("round trip");
    TCase *bad = tcase_create("malformed");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_every_lookup);
    tcase_add_test(tc, empty_registry_loads);
    tcase_add_test(tc, publish_control_and_prune);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(bad, malformed_setup, malformed_teardown);
    tcase_add_test(bad, truncated_at_every_length);
    tcase_add_test(bad, truncated_with_header_fixed);
    tcase_add_test(bad, wrong_magic_major_checksum);
    tcase_add_test(bad, newer_minor_unknown_section_accepted);
    tcase_add_test(bad, sections_out_of_bounds);
    tcase_add_test(bad, string_refs_out_of_bounds);
    tcase_add_test(bad, record_indexes_out_of_range);
    tcase_add_test(bad, index_faults);
    tcase_add_test(bad, random_corruption_never_crashes);
    suite_add_tcase(s, bad);
    return s;
}
