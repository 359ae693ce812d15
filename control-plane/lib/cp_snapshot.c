/*
 * The snapshot compiler: one read transaction over lgsp.db, folded into
 * the flat, indexed layout the data path maps (docs/snapshot-format.md).
 * Every decision the data path would otherwise make from several tables
 * (is this version callable in production? is it suspended?) is made here
 * once, so the request path reads one flag.
 */

#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "cp_addr.h"
#include "cp_jwks.h"
#include "cp_snapshot.h"
#include "cp_snapshot_priv.h"
#include "cp_health.h"
#include "cp_util.h"
#include "lgsp_snapshot.h"

/* trusted issuers' JWKS (cp_jwks.c) */
cp_snapshot_jwks_pt  cp_snapshot_jwks_hook = cp_jwks_keys;

/* ---- compiler helpers ------------------------------------------------- */

static lgsp_snap_str_t
str_add(compiler_t *c, const void *data, size_t len)
{
    lgsp_snap_str_t  s = { 0, 0 };
    uint8_t         *p;

    /* offset 0 is the empty string (the buffer starts with a NUL) */
    if (len == 0 || data == NULL) {
        return s;
    }
    if (c->strings.len + len + 1 > UINT32_MAX) {
        c->strings.oom = 1;
        return s;
    }
    s.off = (uint32_t) c->strings.len;
    s.len = (uint32_t) len;
    p = buf_push(&c->strings, len + 1);
    if (p == NULL) {
        s.off = 0;
        s.len = 0;
        return s;
    }
    memcpy(p, data, len);
    return s;
}

static lgsp_snap_str_t
str_col(compiler_t *c, sqlite3_stmt *st, int col)
{
    return str_add(c, sqlite3_column_blob(st, col),
                   (size_t) sqlite3_column_bytes(st, col));
}

/* Records are read ORDER BY id, and every record type starts with its id. */
static uint32_t
find_id(const buf_t *b, size_t stride, uint64_t id)
{
    uint32_t  lo = 0, hi = (uint32_t) (b->len / stride);

    while (lo < hi) {
        uint32_t  mid = lo + (hi - lo) / 2;
        uint64_t  v;

        memcpy(&v, b->p + (size_t) mid * stride, sizeof(v));
        if (v == id) {
            return mid;
        }
        if (v < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return LGSP_SNAP_NONE;
}

static uint32_t
env_of(const unsigned char *s)
{
    return (s && strcmp((const char *) s, "sandbox") == 0)
           ? LGSP_ENV_SANDBOX : LGSP_ENV_PRODUCTION;
}

/* ---- upstreams -------------------------------------------------------- */

/*
 * The address the data path will connect to.  A name resolving to a
 * link-local, metadata or unspecified address (lgspctl judged only the
 * URL's spelling) is left unresolved, so the call is answered 502, unless
 * the provider system is allowed there (--allow-link-local).
 */
static void
resolve(const char *host, int allow_link_local, lgsp_snap_upstream_t *u)
{
    cp_addr_class_t   cls;
    char              text[INET6_ADDRSTRLEN];
    struct addrinfo   hints, *res, *ai, *pick = NULL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        return;
    }
    /* IPv4 first: "localhost" must not land on ::1 when the provider
     * listens on 127.0.0.1 only */
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (ai->ai_family == AF_INET6 && pick == NULL) {
            pick = ai;
        }
    }
    if (pick && pick->ai_family == AF_INET) {
        memcpy(u->addr, &((struct sockaddr_in *) pick->ai_addr)->sin_addr, 4);
        u->family = 4;
    } else if (pick) {
        memcpy(u->addr, &((struct sockaddr_in6 *) pick->ai_addr)->sin6_addr,
               16);
        u->family = 6;
    }
    if (pick && !allow_link_local
        && (cls = cp_addr_classify_sockaddr(pick->ai_addr))
           != CP_ADDR_ROUTABLE)
    {
        inet_ntop(pick->ai_family, u->addr, text, sizeof(text));
        cp_log("warn", "snapshot: upstream host %s is %s, %s; its system is"
               " not allowed there (--allow-link-local): calls answer 502",
               host, text, cp_addr_class_name(cls));
        memset(u->addr, 0, sizeof(u->addr));
        u->family = 0;
    }
    freeaddrinfo(res);
}

/*
 * scheme://host[:port][/path]: anything else (userinfo, an unknown scheme,
 * a bad port) leaves the upstream unresolved, which the data path answers
 * with 502 rather than guessing.
 */
static void
upstream_parse(compiler_t *c, const char *url, int allow_link_local,
               lgsp_snap_upstream_t *u)
{
    const char  *p, *auth, *end, *host, *host_end, *port = NULL;
    char         name[256];
    long         n;

    memset(u, 0, sizeof(*u));
    if (url == NULL) {
        return;
    }
    u->url = str_add(c, url, strlen(url));

    if (strncmp(url, "http://", 7) == 0) {
        auth = url + 7;
        u->port = 80;
    } else if (strncmp(url, "https://", 8) == 0) {
        auth = url + 8;
        u->port = 443;
        u->tls = 1;
    } else {
        return;
    }
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t) (end - auth)) != NULL) {
        return;
    }
    if (*auth == '[') {
        host = auth + 1;
        host_end = memchr(host, ']', (size_t) (end - host));
        if (host_end == NULL) {
            return;
        }
        p = host_end + 1;
    } else {
        host = auth;
        host_end = memchr(host, ':', (size_t) (end - host));
        if (host_end == NULL) {
            host_end = end;
        }
        p = host_end;
    }
    if (p < end) {
        if (*p != ':' || p + 1 == end) {
            return;
        }
        port = p + 1;
    }
    if (host_end == host || (size_t) (host_end - host) >= sizeof(name)) {
        return;
    }
    if (port) {
        n = 0;
        for (p = port; p < end; p++) {
            if (!isdigit((unsigned char) *p) || n > 65535) {
                return;
            }
            n = n * 10 + (*p - '0');
        }
        if (n < 1 || n > 65535) {
            return;
        }
        u->port = (uint16_t) n;
    }
    memcpy(name, host, (size_t) (host_end - host));
    name[host_end - host] = '\0';

    u->host = str_add(c, name, strlen(name));
    /* the path prefix, without a fragment; "" when the URL has none */
    u->path = str_add(c, end, strcspn(end, "#"));
    resolve(name, allow_link_local, u);
}

static uint32_t
methods_parse(const char *s)
{
    static const struct {
        const char *name;
        uint32_t    bit;
    } m[] = {
        { "GET", LGSP_METHOD_GET }, { "HEAD", LGSP_METHOD_HEAD },
        { "POST", LGSP_METHOD_POST }, { "PUT", LGSP_METHOD_PUT },
        { "PATCH", LGSP_METHOD_PATCH }, { "DELETE", LGSP_METHOD_DELETE },
        { "OPTIONS", LGSP_METHOD_OPTIONS },
    };
    uint32_t  mask = 0;

    while (s && *s) {
        size_t  n;

        s += strspn(s, " ,");
        n = strcspn(s, " ,");
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
            if (strlen(m[i].name) == n && strncasecmp(s, m[i].name, n) == 0) {
                mask |= m[i].bit;
            }
        }
        s += n;
    }
    return mask;
}

/* ---- the tables ------------------------------------------------------- */

#define PREPARE(st, sql)                                                     \
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {           \
        cerr(c, "prepare: %s", sqlite3_errmsg(db));                          \
        return -1;                                                           \
    }

static int
step_done(compiler_t *c, sqlite3 *db, sqlite3_stmt *st, int rc)
{
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cerr(c, "read: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int
load_agencies(compiler_t *c, sqlite3 *db)
{
    sqlite3_stmt  *st;
    int            rc;

    PREPARE(st, "SELECT id, code, name, state, parent_id FROM agencies"
                " ORDER BY id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_agency_t  *a = buf_push(&c->agencies, sizeof(*a));
        uint64_t            *parent = buf_push(&c->agency_parent, 8);

        if (a == NULL || parent == NULL) {
            break;
        }
        a->id = (uint64_t) sqlite3_column_int64(st, 0);
        a->code = str_col(c, st, 1);
        a->name = str_col(c, st, 2);
        if (strcmp((const char *) sqlite3_column_text(st, 3), "closed")
            == 0)
        {
            a->flags |= LGSP_AGENCY_CLOSED;
        }
        *parent = (uint64_t) sqlite3_column_int64(st, 4);
    }
    if (step_done(c, db, st, rc) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < NREC(c, agencies, lgsp_snap_agency_t); i++) {
        uint64_t  pid = ((uint64_t *) c->agency_parent.p)[i];

        REC(c, agencies, lgsp_snap_agency_t)[i].parent =
            pid ? find_id(&c->agencies, sizeof(lgsp_snap_agency_t), pid)
                : LGSP_SNAP_NONE;
    }

    /* every agency answers to its canonical code, then to the aliases and
     * former codes on record */
    for (uint32_t i = 0; i < NREC(c, agencies, lgsp_snap_agency_t); i++) {
        lgsp_snap_agency_code_t  *ac = buf_push(&c->codes, sizeof(*ac));

        if (ac == NULL) {
            return 0;
        }
        ac->code = REC(c, agencies, lgsp_snap_agency_t)[i].code;
        ac->agency = i;
    }
    PREPARE(st, "SELECT code, agency_id FROM agency_codes"
                " WHERE code NOT IN (SELECT code FROM agencies)"
                " ORDER BY code");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t                  a;
        lgsp_snap_agency_code_t  *ac;

        a = find_id(&c->agencies, sizeof(lgsp_snap_agency_t),
                    (uint64_t) sqlite3_column_int64(st, 1));
        if (a == LGSP_SNAP_NONE) {
            continue;
        }
        ac = buf_push(&c->codes, sizeof(*ac));
        if (ac == NULL) {
            break;
        }
        ac->code = str_col(c, st, 0);
        ac->agency = a;
    }
    return step_done(c, db, st, rc);
}

static int
load_systems(compiler_t *c, sqlite3 *db)
{
    sqlite3_stmt  *st;
    int            rc;

    PREPARE(st, "SELECT id, ident, agency_id, suspended FROM systems"
                " ORDER BY id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_system_t  *s;
        uint32_t             a;

        a = find_id(&c->agencies, sizeof(lgsp_snap_agency_t),
                    (uint64_t) sqlite3_column_int64(st, 2));
        if (a == LGSP_SNAP_NONE) {
            continue;
        }
        s = buf_push(&c->systems, sizeof(*s));
        if (s == NULL) {
            break;
        }
        s->id = (uint64_t) sqlite3_column_int64(st, 0);
        s->ident = str_col(c, st, 1);
        s->agency = a;
        if (sqlite3_column_int(st, 3)) {
            s->flags |= LGSP_SYSTEM_SUSPENDED;
        }
    }
    if (step_done(c, db, st, rc) != 0) {
        return -1;
    }

    PREPARE(st, "SELECT id, client_id, system_id, env FROM credentials"
                " WHERE state = 'active' ORDER BY id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_credential_t  *cr;
        uint32_t                 s;

        s = find_id(&c->systems, sizeof(lgsp_snap_system_t),
                    (uint64_t) sqlite3_column_int64(st, 2));
        if (s == LGSP_SNAP_NONE) {
            continue;
        }
        cr = buf_push(&c->credentials, sizeof(*cr));
        if (cr == NULL) {
            break;
        }
        cr->id = (uint64_t) sqlite3_column_int64(st, 0);
        cr->client_id = str_col(c, st, 1);
        cr->system = s;
        cr->env = env_of(sqlite3_column_text(st, 3));
    }
    return step_done(c, db, st, rc);
}

static int
load_versions(compiler_t *c, sqlite3 *db)
{
    sqlite3_stmt  *st;
    int            rc;

    /* the successor of a deprecated version: the next newer published
     * version of the same service */
    PREPARE(st,
        "SELECT v.id, v.service_id, s.code, v.version, v.state, v.upstream,"
        " v.sandbox_upstream, v.methods, v.rate, v.burst, v.upstream_header,"
        " v.timeout_ms, v.body_limit, v.fail_fast, v.deprecated_at,"
        " v.sunset_at, s.end_at, v.suspended, s.suspended,"
        " s.provider_system_id,"
        " (SELECT n.version FROM versions n WHERE n.service_id = v.service_id"
        "   AND n.id > v.id AND n.state = 'published' ORDER BY n.id LIMIT 1),"
        " (SELECT p.allow_link_local FROM systems p"
        "   WHERE p.id = s.provider_system_id)"
        " FROM versions v JOIN services s ON s.id = v.service_id"
        " ORDER BY v.id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_version_t  *v;
        const char           *state, *hdr, *colon, *sbx;
        const unsigned char  *succ;
        char                  route[160];
        uint32_t              prov;
        int                   n, allow;

        prov = find_id(&c->systems, sizeof(lgsp_snap_system_t),
                       (uint64_t) sqlite3_column_int64(st, 19));
        if (prov == LGSP_SNAP_NONE) {
            continue;
        }
        v = buf_push(&c->versions, sizeof(*v));
        if (v == NULL) {
            break;
        }
        v->id = (uint64_t) sqlite3_column_int64(st, 0);
        v->service_id = (uint64_t) sqlite3_column_int64(st, 1);
        v->service = str_col(c, st, 2);
        v->version = str_col(c, st, 3);
        n = snprintf(route, sizeof(route), "%s/%s",
                     (const char *) sqlite3_column_text(st, 2),
                     (const char *) sqlite3_column_text(st, 3));
        if (n < 0 || (size_t) n >= sizeof(route)) {
            cerr(c, "version %lld: route too long",
                 (long long) sqlite3_column_int64(st, 0));
            sqlite3_finalize(st);
            return -1;
        }
        v->route = str_add(c, route, (size_t) n);
        v->provider = prov;

        state = (const char *) sqlite3_column_text(st, 4);
        if (strcmp(state, "sandbox") == 0) {
            v->flags |= LGSP_VERSION_SANDBOX;
        } else if (strcmp(state, "published") == 0) {
            v->flags |= LGSP_VERSION_SANDBOX | LGSP_VERSION_PRODUCTION;
        } else if (strcmp(state, "deprecated") == 0) {
            v->flags |= LGSP_VERSION_SANDBOX | LGSP_VERSION_PRODUCTION
                        | LGSP_VERSION_DEPRECATED;
        } else if (strcmp(state, "retired") == 0) {
            v->flags |= LGSP_VERSION_RETIRED;
        }

        v->deprecated_at = sqlite3_column_int64(st, 14);
        v->sunset_at = sqlite3_column_int64(st, 15);
        v->end_at = sqlite3_column_int64(st, 16);
        /* a date that has come due is folded in; the data path compares
         * the dates with its own clock too, for the moments in between */
        if ((v->sunset_at && v->sunset_at <= c->now)
            || (v->end_at && v->end_at <= c->now)
            || (REC(c, agencies, lgsp_snap_agency_t)[
                    REC(c, systems, lgsp_snap_system_t)[prov].agency].flags
                & LGSP_AGENCY_CLOSED))
        {
            v->flags |= LGSP_VERSION_RETIRED;
        }
        if (sqlite3_column_int(st, 17) || sqlite3_column_int(st, 18)
            || (REC(c, systems, lgsp_snap_system_t)[prov].flags
                & LGSP_SYSTEM_SUSPENDED))
        {
            v->flags |= LGSP_VERSION_SUSPENDED;
        }
        if (sqlite3_column_int(st, 13)) {
            v->flags |= LGSP_VERSION_FAIL_FAST;
        }

        v->methods = methods_parse((const char *) sqlite3_column_text(st, 7));
        v->rate = (uint32_t) sqlite3_column_int64(st, 8);
        v->burst = (uint32_t) sqlite3_column_int64(st, 9);
        v->timeout_ms = (uint32_t) sqlite3_column_int64(st, 11);
        v->body_limit = (uint64_t) sqlite3_column_int64(st, 12);

        allow = sqlite3_column_int(st, 21);
        upstream_parse(c, (const char *) sqlite3_column_text(st, 5), allow,
                       &v->upstream[LGSP_ENV_PRODUCTION]);
        sbx = (const char *) sqlite3_column_text(st, 6);
        upstream_parse(c, sbx && *sbx ? sbx
                          : (const char *) sqlite3_column_text(st, 5), allow,
                       &v->upstream[LGSP_ENV_SANDBOX]);

        hdr = (const char *) sqlite3_column_text(st, 10);
        if (hdr && (colon = strchr(hdr, ':')) != NULL) {
            const char  *name_end = colon, *val = colon + 1;

            while (name_end > hdr && name_end[-1] == ' ') {
                name_end--;
            }
            val += strspn(val, " \t");
            if (name_end > hdr) {
                v->upstream_header_name = str_add(c, hdr,
                                                  (size_t) (name_end - hdr));
                v->upstream_header_value = str_add(c, val,
                                                   strcspn(val, "\r\n"));
            }
        }

        succ = sqlite3_column_text(st, 20);
        if ((v->flags & LGSP_VERSION_DEPRECATED) && succ != NULL) {
            n = snprintf(route, sizeof(route), "%s/%s",
                         (const char *) sqlite3_column_text(st, 2),
                         (const char *) succ);
            if (n > 0 && (size_t) n < sizeof(route)) {
                v->successor = str_add(c, route, (size_t) n);
            }
        }
    }
    if (step_done(c, db, st, rc) != 0) {
        return -1;
    }

    PREPARE(st, "SELECT id, consumer_system_id, version_id, env, state,"
                " rate, burst, quota FROM grants WHERE state != 'revoked'"
                " ORDER BY id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_grant_t  *g;
        uint32_t            sys, ver;

        sys = find_id(&c->systems, sizeof(lgsp_snap_system_t),
                      (uint64_t) sqlite3_column_int64(st, 1));
        ver = find_id(&c->versions, sizeof(lgsp_snap_version_t),
                      (uint64_t) sqlite3_column_int64(st, 2));
        if (sys == LGSP_SNAP_NONE || ver == LGSP_SNAP_NONE) {
            continue;
        }
        g = buf_push(&c->grants, sizeof(*g));
        if (g == NULL) {
            break;
        }
        g->id = (uint64_t) sqlite3_column_int64(st, 0);
        g->consumer = sys;
        g->version = ver;
        g->env = env_of(sqlite3_column_text(st, 3));
        if (strcmp((const char *) sqlite3_column_text(st, 4), "suspended")
            == 0)
        {
            g->flags |= LGSP_GRANT_SUSPENDED;
        }
        g->rate = (uint32_t) sqlite3_column_int64(st, 5);
        g->burst = (uint32_t) sqlite3_column_int64(st, 6);
        g->quota = (uint32_t) sqlite3_column_int64(st, 7);
    }
    return step_done(c, db, st, rc);
}

typedef struct {
    compiler_t  *c;
    uint32_t     issuer;
} jwk_ctx_t;

static void
add_external_key(void *ctx, const char *kid, uint32_t alg,
    const unsigned char *der, size_t der_len)
{
    jwk_ctx_t        *jc = ctx;
    lgsp_snap_key_t  *k;

    if (kid == NULL || der == NULL
        || (alg != LGSP_ALG_RS256 && alg != LGSP_ALG_ES256))
    {
        return;
    }
    k = buf_push(&jc->c->keys, sizeof(*k));
    if (k == NULL) {
        return;
    }
    k->id = 0;          /* not a registry row */
    k->kid = str_add(jc->c, kid, strlen(kid));
    k->der = str_add(jc->c, der, der_len);
    k->alg = alg;
    k->issuer = jc->issuer;
}

static int
load_keys(compiler_t *c, sqlite3 *db, const char *platform_iss)
{
    sqlite3_stmt        *st;
    lgsp_snap_issuer_t  *is;
    int                  rc;

    /* issuer 0 is the platform: its audience is lgsp:<environment> */
    is = buf_push(&c->issuers, sizeof(*is));
    if (is == NULL) {
        return 0;
    }
    is->iss = str_add(c, platform_iss, strlen(platform_iss));
    is->system_claim = str_add(c, "sub", 3);
    is->env_mask = LGSP_ENV_BIT(LGSP_ENV_PRODUCTION)
                   | LGSP_ENV_BIT(LGSP_ENV_SANDBOX);
    is->flags = LGSP_ISSUER_PLATFORM;

    /* a retiring key stays until its last token expires; then it goes */
    PREPARE(st, "SELECT id, kid, alg, public_der, verify_until"
                " FROM signing_keys WHERE state != 'revoked'"
                " AND (verify_until IS NULL OR verify_until > ?1)"
                " ORDER BY id");
    sqlite3_bind_int64(st, 1, c->now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lgsp_snap_key_t  *k = buf_push(&c->keys, sizeof(*k));

        if (k == NULL) {
            break;
        }
        k->id = (uint64_t) sqlite3_column_int64(st, 0);
        k->kid = str_col(c, st, 1);
        k->alg = strcmp((const char *) sqlite3_column_text(st, 2), "ES256")
                 == 0 ? LGSP_ALG_ES256 : LGSP_ALG_RS256;
        k->der = str_col(c, st, 3);
        k->issuer = 0;
        k->verify_until = sqlite3_column_int64(st, 4);
    }
    if (step_done(c, db, st, rc) != 0) {
        return -1;
    }

    PREPARE(st, "SELECT id, iss, env, audience, system_claim, jwks"
                " FROM issuers ORDER BY id");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        jwk_ctx_t  jc;
        const char *jwks;

        is = buf_push(&c->issuers, sizeof(*is));
        if (is == NULL) {
            break;
        }
        is->id = (uint64_t) sqlite3_column_int64(st, 0);
        is->iss = str_col(c, st, 1);
        is->env_mask = LGSP_ENV_BIT(env_of(sqlite3_column_text(st, 2)));
        is->audience = str_col(c, st, 3);
        is->system_claim = str_col(c, st, 4);

        jwks = (const char *) sqlite3_column_text(st, 5);
        if (jwks != NULL && cp_snapshot_jwks_hook != NULL) {
            jc.c = c;
            jc.issuer = NREC(c, issuers, lgsp_snap_issuer_t) - 1;
            cp_snapshot_jwks_hook(jwks, (size_t) sqlite3_column_bytes(st, 5),
                                  add_external_key, &jc);
        }
    }
    return step_done(c, db, st, rc);
}

static int64_t
next_due(sqlite3 *db, int64_t now)
{
    sqlite3_stmt  *st;
    int64_t        due = 0;

    if (sqlite3_prepare_v2(db,
            "SELECT min(t) FROM ("
            " SELECT sunset_at AS t FROM versions WHERE sunset_at > ?1"
            "  AND state != 'retired'"
            " UNION ALL SELECT end_at FROM services WHERE end_at > ?1"
            " UNION ALL SELECT verify_until FROM signing_keys"
            "  WHERE verify_until > ?1 AND state != 'revoked')",
            -1, &st, NULL) != SQLITE_OK)
    {
        return 0;
    }
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) == SQLITE_ROW) {
        due = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return due;
}

/* health says a system (level 1) or a version (level 2) is down */
static void
mark_down(void *arg, int kind, int64_t ref_id)
{
    compiler_t  *c = arg;
    uint32_t     i;

    if (kind == CP_HEALTH_KIND_SYSTEM) {
        i = find_id(&c->systems, sizeof(lgsp_snap_system_t),
                    (uint64_t) ref_id);
        if (i != LGSP_SNAP_NONE) {
            ((lgsp_snap_system_t *) c->systems.p)[i].flags
                |= LGSP_SYSTEM_DOWN;
        }
    } else if (kind == CP_HEALTH_KIND_VERSION) {
        i = find_id(&c->versions, sizeof(lgsp_snap_version_t),
                    (uint64_t) ref_id);
        if (i != LGSP_SNAP_NONE) {
            ((lgsp_snap_version_t *) c->versions.p)[i].flags
                |= LGSP_VERSION_DOWN;
        }
    }
}

int
cp_snapshot_compile(sqlite3 *db, const cp_snapshot_opts_t *opts,
    cp_snapshot_t *out, char *err, size_t err_size)
{
    compiler_t  c;
    int         rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.err = err;
    c.err_size = err_size;
    c.now = opts->now_ms / 1000;
    snprintf(err, err_size, "out of memory");

    if (buf_push(&c.strings, 1) == NULL) {
        return -1;
    }

    /* one read transaction: every table seen at the same commit */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        cerr(&c, "begin: %s", sqlite3_errmsg(db));
        goto done;
    }
    if (load_agencies(&c, db) == 0 && load_systems(&c, db) == 0
        && load_versions(&c, db) == 0
        && load_keys(&c, db, opts->issuer ? opts->issuer : "") == 0)
    {
        out->next_due = next_due(db, c.now);
        rc = 0;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != 0) {
        goto done;
    }

    /* a health.db we cannot read leaves everybody up: the fail-fast 503
     * is an optimisation, never a reason to refuse calls */
    if (opts->health_db != NULL
        && cp_health_each_down(opts->health_db, mark_down, &c) < 0)
    {
        cp_log("warn", "snapshot: health.db unreadable; nobody marked down");
    }
    rc = -1;

    if (c.strings.oom || c.agencies.oom || c.codes.oom || c.systems.oom
        || c.credentials.oom || c.versions.oom || c.grants.oom
        || c.keys.oom || c.issuers.oom || c.agency_parent.oom)
    {
        cerr(&c, "out of memory or over 4 GB of strings");
        goto done;
    }
    rc = cp_snapshot_assemble(&c, opts, out);

done:
    free(c.strings.p);
    free(c.agencies.p);
    free(c.codes.p);
    free(c.systems.p);
    free(c.credentials.p);
    free(c.versions.p);
    free(c.grants.p);
    free(c.keys.p);
    free(c.issuers.p);
    free(c.agency_parent.p);
    return rc;
}

void
cp_snapshot_free(cp_snapshot_t *snap)
{
    if (snap->data) {
        /* upstream credentials travel in it */
        explicit_bzero(snap->data, snap->size);
        free(snap->data);
    }
    memset(snap, 0, sizeof(*snap));
}
