/*
 * lgspctl service ...: services and their versions' settings (SPEC §7):
 * add, version add, set, end, suspend/resume, list, and the verb table.
 * A version's lifecycle (publish, deprecate, retire) is cmd_version.c.
 * A version's upstream credential header is read from a file or stdin,
 * never argv, and never printed or logged.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "lgspctl.h"
#include "cmd_service.h"
#include "cp_cli.h"
#include "cp_forms.h"
#include "cp_lifecycle.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

#define RATE_MAX     1000000
#define TIMEOUT_MAX  3600
#define BODY_MAX     (256LL * 1024 * 1024)

enum {
    O_PROVIDER = 256, O_NAME, O_UPSTREAM, O_VERSION, O_SANDBOX, O_METHODS,
    O_RATE, O_BURST, O_HEALTH, O_HEADER, O_NOHEADER, O_TIMEOUT, O_BODY,
    O_FAILFAST, O_FORCE, O_REASON, O_DATE,
    O_FORM, O_PRINTFORM, O_ALLOWLL,
};

/* per-version settings from the command line; has_* says given */
typedef struct {
    const char  *upstream;
    const char  *sandbox;          /* "" to clear */
    const char  *health;           /* "" to clear */
    const char  *header_file;
    char         methods[96];
    long long    rate, burst, timeout, body;
    int          has_methods, has_rate, has_burst, has_timeout, has_body;
    int          fail_fast;        /* -1 unset */
    int          no_header;
    char         header[CP_HEADER_MAX + 1];
    int          has_header;
    int          allow_link_local; /* for the provider (ctl_where.c) */
} vopts_t;

#define VOPTS_LONG                                                         \
    { "upstream",             required_argument, NULL, O_UPSTREAM },      \
    { "sandbox-upstream",     required_argument, NULL, O_SANDBOX },       \
    { "methods",              required_argument, NULL, O_METHODS },       \
    { "rate",                 required_argument, NULL, O_RATE },          \
    { "burst",                required_argument, NULL, O_BURST },         \
    { "health-url",           required_argument, NULL, O_HEALTH },        \
    { "upstream-header-file", required_argument, NULL, O_HEADER },        \
    { "timeout",              required_argument, NULL, O_TIMEOUT },       \
    { "body-limit",           required_argument, NULL, O_BODY },          \
    { "allow-link-local",     no_argument,       NULL, O_ALLOWLL }

int
service_usage(void)
{
    return ctl_usage(ctl_find("service"));
}

/* 0 taken, 1 not a version option, CP_EXIT_USAGE bad value */
static int
vopt(int c, const char *arg, vopts_t *v, const char *what, int allow_clear)
{
    char why[160];

    switch (c) {
    case O_UPSTREAM:
        if (cp_valid_url(arg, why, sizeof(why)) != 0) {
            return cp_bad("%s: --upstream: %s", what, why);
        }
        v->upstream = arg;
        return 0;
    case O_SANDBOX:
    case O_HEALTH:
        if (allow_clear && strcmp(arg, "none") == 0) {
            arg = "";
        } else if (cp_valid_url(arg, why, sizeof(why)) != 0) {
            return cp_bad("%s: --%s: %s", what, c == O_SANDBOX
                          ? "sandbox-upstream" : "health-url", why);
        }
        *(c == O_SANDBOX ? &v->sandbox : &v->health) = arg;
        return 0;
    case O_METHODS:
        if (cp_parse_methods(arg, v->methods, sizeof(v->methods), why,
                             sizeof(why)) != 0)
        {
            return cp_bad("%s: --methods: %s", what, why);
        }
        v->has_methods = 1;
        return 0;
    case O_RATE:
        if (cp_parse_uint(arg, "/s", RATE_MAX, &v->rate) != 0) {
            return cp_bad("%s: --rate \"%s\": expected N/s, 0..%d", what,
                          arg, RATE_MAX);
        }
        v->has_rate = 1;
        return 0;
    case O_BURST:
        if (cp_parse_uint(arg, NULL, RATE_MAX, &v->burst) != 0) {
            return cp_bad("%s: --burst \"%s\": expected 0..%d", what, arg,
                          RATE_MAX);
        }
        v->has_burst = 1;
        return 0;
    case O_TIMEOUT:
        if (cp_parse_uint(arg, "s", TIMEOUT_MAX, &v->timeout) != 0
            || v->timeout < 1)
        {
            return cp_bad("%s: --timeout \"%s\": expected 1..%d seconds",
                          what, arg, TIMEOUT_MAX);
        }
        v->has_timeout = 1;
        return 0;
    case O_BODY:
        if (cp_parse_uint(arg, NULL, BODY_MAX, &v->body) != 0) {
            return cp_bad("%s: --body-limit \"%s\": expected 0..%lld bytes",
                          what, arg, BODY_MAX);
        }
        v->has_body = 1;
        return 0;
    case O_HEADER:
        v->header_file = arg;
        return 0;
    case O_NOHEADER:
        v->no_header = 1;
        return 0;
    case O_ALLOWLL:
        v->allow_link_local = 1;
        return 0;
    case O_FAILFAST:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
            return cp_bad("%s: --fail-fast: on or off", what);
        }
        v->fail_fast = strcmp(arg, "on") == 0;
        return 0;
    }
    return 1;
}

static void
vopts_init(vopts_t *v)
{
    memset(v, 0, sizeof(*v));
    v->fail_fast = -1;
}

/* The header is read after the flags, before the transaction (stdin). */
static int
vopts_read_header(vopts_t *v, const char *what)
{
    int rc;

    if (v->header_file == NULL) {
        return 0;
    }
    if (v->no_header) {
        return cp_bad("%s: --upstream-header-file and --no-upstream-header"
                      " together", what);
    }
    rc = cp_read_upstream_header(v->header_file, v->header,
                                 sizeof(v->header));
    v->has_header = rc == 0;
    return rc;
}

/*
 * The version's URLs against where its provider's may point (inside the
 * transaction); with --allow-link-local the provider is allowed first,
 * which the change log records.  0 or an exit status.
 */
static int
vopts_where(ctl_t *ctl, const char *what, const vopts_t *v,
            long long provider_id, int allowed)
{
    int rc;

    if (v->allow_link_local && !allowed) {
        if ((rc = ctl_allow_link_local(ctl->db, provider_id, 1)) != 0) {
            return rc;
        }
        allowed = 1;
    }
    if ((rc = ctl_url_where(ctl->db, what, "--upstream", v->upstream,
                            allowed)) != 0
        || (rc = ctl_url_where(ctl->db, what, "--sandbox-upstream",
                               v->sandbox, allowed)) != 0
        || (rc = ctl_url_where(ctl->db, what, "--health-url", v->health,
                               allowed)) != 0)
    {
        return rc;
    }
    return 0;
}

static void
vopts_wipe(vopts_t *v)
{
    OPENSSL_cleanse(v->header, sizeof(v->header));
}

static int
print_route(ctl_t *ctl, long long version_id, const char *route)
{
    if (ctl->json) {
        cJSON *o = cp_version_json(ctl->db, version_id);
        if (o == NULL) {
            return CP_EXIT_REFUSED;
        }
        cp_json_print(o);
    } else if (route != NULL) {
        puts(route);
    }
    return CP_EXIT_OK;
}

/* Apply the settings given to one version row (inside the transaction). */
static int
vopts_apply(sqlite3 *db, long long id, const vopts_t *v)
{
    sqlite3_stmt *st;
    int           rc;

    st = cp_db_prepare(db,
        "UPDATE versions SET"
        " upstream = coalesce(?2, upstream),"
        " sandbox_upstream = CASE WHEN ?3 IS NULL THEN sandbox_upstream"
        "   ELSE nullif(?3, '') END,"
        " health_url = CASE WHEN ?4 IS NULL THEN health_url"
        "   ELSE nullif(?4, '') END,"
        " methods = coalesce(?5, methods),"
        " rate = coalesce(?6, rate), burst = coalesce(?7, burst),"
        " timeout_ms = coalesce(?8, timeout_ms),"
        " body_limit = coalesce(?9, body_limit),"
        " fail_fast = coalesce(?10, fail_fast),"
        " upstream_header = CASE WHEN ?12 THEN NULL"
        "   ELSE coalesce(?11, upstream_header) END"
        " WHERE id = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    if (v->upstream) sqlite3_bind_text(st, 2, v->upstream, -1, SQLITE_STATIC);
    if (v->sandbox) sqlite3_bind_text(st, 3, v->sandbox, -1, SQLITE_STATIC);
    if (v->health) sqlite3_bind_text(st, 4, v->health, -1, SQLITE_STATIC);
    if (v->has_methods) {
        sqlite3_bind_text(st, 5, v->methods, -1, SQLITE_STATIC);
    }
    if (v->has_rate) sqlite3_bind_int64(st, 6, v->rate);
    if (v->has_burst) sqlite3_bind_int64(st, 7, v->burst);
    if (v->has_timeout) sqlite3_bind_int64(st, 8, v->timeout * 1000);
    if (v->has_body) sqlite3_bind_int64(st, 9, v->body);
    if (v->fail_fast >= 0) sqlite3_bind_int(st, 10, v->fail_fast);
    if (v->has_header) {
        sqlite3_bind_text(st, 11, v->header, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 12, v->no_header);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static long long
insert_version(sqlite3 *db, long long service_id, const char *version,
               const vopts_t *v)
{
    sqlite3_stmt *st;
    int           rc;
    long long     id;

    st = cp_db_prepare(db, "INSERT INTO versions (service_id, version,"
                           " upstream, created_at) VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, service_id);
    sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, v->upstream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }
    id = sqlite3_last_insert_rowid(db);
    return vopts_apply(db, id, v) == 0 ? id : -1;
}

/* A lifecycle change announces itself in the notices (Art. 11.6; they
 * feed the catalog), inside the change's own transaction.  0 or -1. */
int
service_announce(ctl_t *ctl, const char *kind, const char *target,
                 int64_t start, int64_t end, const char *reason,
                 const char *fmt, ...)
{
    char    text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return ctl_notice_auto(ctl->db, kind, target, start, end, text, reason)
           < 0 ? -1 : 0;
}

/* --- add / version add / set ------------------------------------------- */

/* Form 01 (already valid against its schema): its fields as if they had
 * been given as flags, so they pass the same checks.  0 or an exit
 * status. */
static int
offer_form(const cJSON *doc, const char **code, const char **provider,
           const char **name, const char **version, vopts_t *v)
{
    static const struct {
        const char *path;
        int         opt;
    } urls[] = {
        { "service/upstream", O_UPSTREAM },
        { "service/sandbox_upstream", O_SANDBOX },
        { "service/health_url", O_HEALTH },
    };
    static const struct {
        const char *name;
        int         opt;
    } nums[] = {
        { "rate", O_RATE }, { "burst", O_BURST }, { "timeout", O_TIMEOUT },
    };
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(doc, "service");
    const cJSON *m, *n;
    char         methods[96] = "", num[32];

    *code = cp_form_str(doc, "service/code");
    *provider = cp_form_str(doc, "provider");
    *name = cp_form_str(doc, "service/name");
    if (cp_form_str(doc, "service/version") != NULL) {
        *version = cp_form_str(doc, "service/version");
    }
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const char *u = cp_form_str(doc, urls[i].path);

        if (u != NULL && vopt(urls[i].opt, u, v, "service add --form", 0)) {
            return CP_EXIT_USAGE;
        }
    }
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(svc, "methods")) {
        if (strlen(methods) + strlen(m->valuestring) + 2 > sizeof(methods)) {
            return cp_bad("service add --form: too many methods");
        }
        strcat(methods, methods[0] ? "," : "");
        strcat(methods, m->valuestring);
    }
    if (vopt(O_METHODS, methods, v, "service add --form", 0) != 0) {
        return CP_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        n = cJSON_GetObjectItemCaseSensitive(svc, nums[i].name);
        if (cJSON_IsNumber(n)) {
            snprintf(num, sizeof(num), "%.0f", n->valuedouble);
            if (vopt(nums[i].opt, num, v, "service add --form", 0) != 0) {
                return CP_EXIT_USAGE;
            }
        }
    }
    return 0;
}

/* Keep the offer (Form 01) with the service: its purpose and the form. */
static int
keep_form(sqlite3 *db, long long sid, const cJSON *form)
{
    sqlite3_stmt *st;
    char         *text;
    int           rc;

    if (form == NULL) {
        return 0;
    }
    text = cJSON_PrintUnformatted(form);
    st = cp_db_prepare(db, "UPDATE services SET purpose = ?2, form = ?3"
                           " WHERE id = ?1");
    if (st == NULL || text == NULL) {
        sqlite3_finalize(st);
        cJSON_free(text);
        return -1;
    }
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_text(st, 2, cp_form_str(form, "service/purpose"), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    cJSON_free(text);
    return rc;
}

static int service_add_checked(ctl_t *ctl, const char *code,
    const char *provider, const char *name, const char *version, vopts_t *vp,
    const cJSON *form);

static int
service_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "provider", required_argument, NULL, O_PROVIDER },
        { "name",     required_argument, NULL, O_NAME },
        { "version",  required_argument, NULL, O_VERSION },
        { "form",       required_argument, NULL, O_FORM },
        { "print-form", no_argument,       NULL, O_PRINTFORM },
        VOPTS_LONG,
        { NULL, 0, NULL, 0 }
    };
    const char       *provider = NULL, *name = NULL, *version = "v1", *code;
    const char       *form_file = NULL;
    cJSON            *form = NULL;
    char              why[800];
    int               print_form = 0;
    vopts_t           v;
    int               c, rc;

    vopts_init(&v);
    while ((c = cp_getopt(argc, argv, opts, "service add")) != -1) {
        switch (c) {
        case O_PROVIDER: provider = optarg; break;
        case O_NAME: name = optarg; break;
        case O_VERSION: version = optarg; break;
        case O_FORM: form_file = optarg; break;
        case O_PRINTFORM: print_form = 1; break;
        default:
            rc = c == '?' ? 1 : vopt(c, optarg, &v, "service add", 0);
            if (rc != 0) {
                return service_usage();
            }
        }
    }
    if (print_form && form_file == NULL) {
        cp_bad("service add: --print-form needs --form FILE");
        return service_usage();
    }
    if (form_file != NULL) {
        /* the form is the offer: only the credential (a secret, never in
         * a form that gets printed) may come beside it */
        if (optind != argc || provider || name || strcmp(version, "v1")
            || v.upstream || v.sandbox || v.health || v.has_methods
            || v.has_rate || v.has_burst || v.has_timeout || v.has_body)
        {
            cp_bad("service add: with --form, everything but"
                   " --upstream-header-file and --allow-link-local comes"
                   " from the form");
            return service_usage();
        }
        form = cp_form_load(form_file, "01", why, sizeof(why));
        if (form == NULL) {
            cp_err("service add: %s", why);
            return CP_EXIT_REFUSED;
        }
        if (print_form) {
            cp_form_render(form, stdout);
            cJSON_Delete(form);
            return CP_EXIT_OK;
        }
        rc = offer_form(form, &code, &provider, &name, &version, &v);
        if (rc != 0) {
            cJSON_Delete(form);
            return rc;
        }
    } else if (optind + 1 != argc || provider == NULL || name == NULL
               || v.upstream == NULL)
    {
        cp_bad("service add: needs CODE, --provider, --name and --upstream");
        return service_usage();
    } else {
        code = argv[optind];
    }
    /* the form's strings live until here: free it on every return below */
    rc = service_add_checked(ctl, code, provider, name, version, &v, form);
    cJSON_Delete(form);
    return rc;
}

static int
service_add_checked(ctl_t *ctl, const char *code, const char *provider,
                    const char *name, const char *version, vopts_t *vp,
                    const cJSON *form)
{
    cp_system_ref_t   p;
    cp_service_ref_t  s;
    sqlite3_stmt     *st;
    long long         sid, vid;
    char              object[160];
    int               rc;

    if (cp_valid_service_code(code) != 0) {
        return cp_bad("service add: \"%s\": a service code is"
                      " [a-z0-9][a-z0-9-]{0,63}", code);
    }
    if (cp_valid_version(version) != 0) {
        return cp_bad("service add: --version \"%s\": a version is"
                      " [A-Za-z0-9][A-Za-z0-9._-]{0,31}", version);
    }
    if (cp_text_arg("service add", form ? "/service/name" : "--name", name,
                    CP_TEXT_MAX, 0) != 0)
    {
        return CP_EXIT_USAGE;
    }
    if (cp_valid_system_id(provider) != 0) {
        return cp_bad("service add: --provider \"%s\" is not a system id",
                      provider);
    }
    if ((rc = vopts_read_header(vp, "service add")) != 0) {
        return rc;
    }

    if (cp_tx_begin(ctl->db) != 0) {
        vopts_wipe(vp);
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_system(ctl->db, provider, &p);
    if (rc <= 0) {
        rc = cp_refuse(ctl->db, "service %s: provider %s does not exist",
                       code, provider);
        goto out;
    }
    if (p.agency_closed) {
        rc = cp_refuse(ctl->db, "service %s: the agency of provider %s is"
                       " closed", code, provider);
        goto out;
    }
    if (!p.committed && p.security_level == 0) {
        /* Appendix 01 §3.2: an offer needs Form 03 or a security level */
        rc = cp_refuse(ctl->db, "service %s: provider %s has no security"
                       " commitment (Form 03) and no security level; record"
                       " one with \"lgspctl system commitment\"", code,
                       provider);
        goto out;
    }
    if (cp_find_service(ctl->db, code, &s) != 0) {
        rc = cp_refuse(ctl->db, "service %s: already exists", code);
        goto out;
    }
    if ((rc = vopts_where(ctl, "service add", vp, p.id, p.allow_link_local))
        != 0)
    {
        goto out;
    }
    st = cp_db_prepare(ctl->db, "INSERT INTO services (code,"
                                " provider_system_id, name, created_at)"
                                " VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL) {
        rc = cp_refuse(ctl->db, "service %s: cannot add", code);
        goto out;
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, p.id);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    sid = sqlite3_last_insert_rowid(ctl->db);
    if (rc != SQLITE_DONE
        || (vid = insert_version(ctl->db, sid, version, vp)) < 0
        || keep_form(ctl->db, sid, form) != 0)
    {
        rc = cp_refuse(ctl->db, "service %s: %s", code,
                       sqlite3_errmsg(ctl->db));
        goto out;
    }
    snprintf(object, sizeof(object), "service:%s", code);
    if (cp_record(ctl->db, "services", sid, object, "add", NULL) != 0) {
        rc = cp_refuse(ctl->db, "service %s: not added", code);
        goto out;
    }
    snprintf(object, sizeof(object), "version:%s/%s", code, version);
    if (cp_record(ctl->db, "versions", vid, object, "add", NULL) != 0) {
        rc = cp_refuse(ctl->db, "service %s: not added", code);
        goto out;
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        goto out;
    }
    if (ctl->json) {
        cp_json_print(cp_service_json(ctl->db, sid));
    } else {
        puts(code);
    }
out:
    vopts_wipe(vp);
    return rc;
}

/* CODE/VERSION from argv: parse, begin, find both.  0 or an exit status. */
int
service_begin_route(ctl_t *ctl, const char *what, const char *arg,
                    int allow_bare, cp_service_ref_t *s, cp_version_ref_t *v,
                    char *route, size_t rsize)
{
    char code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    int  rc;

    if (cp_parse_route(arg, allow_bare, code, ver) != 0) {
        cp_bad("%s: \"%s\": expected CODE/VERSION%s", what, arg,
               allow_bare ? " or CODE" : "");
        return service_usage();
    }
    snprintf(route, rsize, "%s", arg);
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_service(ctl->db, code, s);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "service %s: no such service", code);
    }
    if (ver[0] == '\0') {
        v->id = 0;
        return 0;
    }
    rc = cp_find_version(ctl->db, s->id, ver, v);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "service %s: no such version", arg);
    }
    return 0;
}

/* Record the version change and commit; print the version on --json. */
int
service_finish_version(ctl_t *ctl, long long vid, const char *route,
                       const char *action, char *before)
{
    char object[160];
    int  rc;

    snprintf(object, sizeof(object), "version:%s", route);
    if (cp_record(ctl->db, "versions", vid, object, action, before) != 0) {
        return cp_refuse(ctl->db, "service %s: not changed", route);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_route(ctl, vid, NULL);
}

static int
service_version(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        VOPTS_LONG,
        { NULL, 0, NULL, 0 }
    };
    cp_service_ref_t  s;
    cp_version_ref_t  existing;
    vopts_t           v;
    char              code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    char              object[160];
    long long         vid;
    int               c, rc;

    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        cp_bad("service version: the verb is \"version add\"");
        return service_usage();
    }
    argc--;
    argv++;
    vopts_init(&v);
    while ((c = cp_getopt(argc, argv, opts, "service version add")) != -1) {
        rc = c == '?' ? 1 : vopt(c, optarg, &v, "service version add", 0);
        if (rc != 0) {
            return service_usage();
        }
    }
    if (optind + 1 != argc || v.upstream == NULL) {
        cp_bad("service version add: needs CODE/VERSION and --upstream");
        return service_usage();
    }
    if (cp_parse_route(argv[optind], 0, code, ver) != 0) {
        cp_bad("service version add: \"%s\": expected CODE/VERSION",
               argv[optind]);
        return service_usage();
    }
    if ((rc = vopts_read_header(&v, "service version add")) != 0) {
        return rc;
    }
    if (cp_tx_begin(ctl->db) != 0) {
        vopts_wipe(&v);
        return CP_EXIT_REFUSED;
    }
    if (cp_find_service(ctl->db, code, &s) <= 0) {
        rc = cp_refuse(ctl->db, "service %s: no such service", code);
        goto out;
    }
    if (s.provider_closed) {
        rc = cp_refuse(ctl->db, "service %s: the provider's agency is"
                       " closed", code);
        goto out;
    }
    if (s.end_at != 0 && s.end_at <= cp_now()) {
        rc = cp_refuse(ctl->db, "service %s: the service has ended", code);
        goto out;
    }
    if (cp_find_version(ctl->db, s.id, ver, &existing) != 0) {
        rc = cp_refuse(ctl->db, "service %s: already exists", argv[optind]);
        goto out;
    }
    if ((rc = vopts_where(ctl, "service version add", &v, s.provider_id,
                          s.provider_allow_link_local)) != 0)
    {
        goto out;
    }
    vid = insert_version(ctl->db, s.id, ver, &v);
    if (vid < 0) {
        rc = cp_refuse(ctl->db, "service %s: %s", argv[optind],
                       sqlite3_errmsg(ctl->db));
        goto out;
    }
    snprintf(object, sizeof(object), "version:%s", argv[optind]);
    if (cp_record(ctl->db, "versions", vid, object, "add", NULL) != 0) {
        rc = cp_refuse(ctl->db, "service %s: not added", argv[optind]);
        goto out;
    }
    if ((rc = cp_tx_commit(ctl->db)) == 0) {
        rc = print_route(ctl, vid, argv[optind]);
    }
out:
    vopts_wipe(&v);
    return rc;
}

static int
service_set(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        VOPTS_LONG,
        { "no-upstream-header", no_argument,       NULL, O_NOHEADER },
        { "fail-fast",          required_argument, NULL, O_FAILFAST },
        { NULL, 0, NULL, 0 }
    };
    cp_service_ref_t  s;
    cp_version_ref_t  ver;
    vopts_t           v;
    char              route[160];
    int               c, rc;

    vopts_init(&v);
    while ((c = cp_getopt(argc, argv, opts, "service set")) != -1) {
        rc = c == '?' ? 1 : vopt(c, optarg, &v, "service set", 1);
        if (rc != 0) {
            return service_usage();
        }
    }
    if (optind + 1 != argc) {
        cp_bad("service set: needs CODE/VERSION");
        return service_usage();
    }
    if (!v.upstream && !v.sandbox && !v.health && !v.header_file
        && !v.has_methods && !v.has_rate && !v.has_burst && !v.has_timeout
        && !v.has_body && v.fail_fast < 0 && !v.no_header)
    {
        cp_bad("service set: nothing to set");
        return service_usage();
    }
    if (v.allow_link_local && !v.upstream && !v.sandbox && !v.health) {
        cp_bad("service set: --allow-link-local goes with the URL it allows"
               " (or: lgspctl system set SYSTEM --allow-link-local)");
        return service_usage();
    }
    if ((rc = vopts_read_header(&v, "service set")) != 0) {
        return rc;
    }
    rc = service_begin_route(ctl, "service set", argv[optind], 0, &s, &ver,
                             route, sizeof(route));
    if (rc != 0) {
        goto out;
    }
    if (strcmp(ver.state, "retired") == 0) {
        rc = cp_refuse(ctl->db, "service %s: retired; a retired version is"
                       " final", route);
        goto out;
    }
    if ((rc = vopts_where(ctl, "service set", &v, s.provider_id,
                          s.provider_allow_link_local)) != 0)
    {
        goto out;
    }
    char *before = cp_change_row(ctl->db, "versions", ver.id);
    if (vopts_apply(ctl->db, ver.id, &v) != 0) {
        free(before);
        rc = cp_refuse(ctl->db, "service %s: %s", route,
                       sqlite3_errmsg(ctl->db));
        goto out;
    }
    rc = service_finish_version(ctl, ver.id, route, "set", before);
out:
    vopts_wipe(&v);
    return rc;
}

/* --- end / suspend / resume / list ------------------------------------- */

/* --force needs --reason and the other way round */
int
service_check_force(const char *what, int force, const char *reason)
{
    if (force && reason == NULL) {
        return cp_bad("%s: --force needs --reason TEXT (it is recorded)",
                      what);
    }
    if (!force && reason != NULL) {
        return cp_bad("%s: --reason goes with --force", what);
    }
    if (cp_text_arg(what, "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    return 0;
}

/* Record a service-level change and commit; the service on --json. */
static int
finish_service(ctl_t *ctl, const cp_service_ref_t *s, const char *action,
               char *before)
{
    char object[160];
    int  rc;

    snprintf(object, sizeof(object), "service:%s", s->code);
    if (cp_record(ctl->db, "services", s->id, object, action, before) != 0) {
        return cp_refuse(ctl->db, "service %s: not changed", s->code);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    if (ctl->json) {
        cp_json_print(cp_service_json(ctl->db, s->id));
    }
    return CP_EXIT_OK;
}

static int
service_end(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "date",   required_argument, NULL, O_DATE },
        { "force",  no_argument,       NULL, O_FORCE },
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char       *date = NULL, *reason = NULL;
    cp_service_ref_t  s;
    cp_version_ref_t  none;
    sqlite3_stmt     *st;
    int64_t           end_at, now = cp_now();
    char              route[160], d[16], *before;
    int               c, rc, force = 0;

    while ((c = cp_getopt(argc, argv, opts, "service end")) != -1) {
        switch (c) {
        case O_DATE: date = optarg; break;
        case O_FORCE: force = 1; break;
        case O_REASON: reason = optarg; break;
        default: return service_usage();
        }
    }
    if (optind + 1 != argc || date == NULL) {
        cp_bad("service end: needs CODE and --date");
        return service_usage();
    }
    if (strchr(argv[optind], '/') != NULL) {
        cp_bad("service end: \"%s\": ends a whole service (CODE); retire a"
               " version instead", argv[optind]);
        return service_usage();
    }
    if (cp_date_parse(date, &end_at) != 0) {
        cp_bad("service end: --date \"%s\": expected a real YYYY-MM-DD",
               date);
        return service_usage();
    }
    if (service_check_force("service end", force, reason) != 0) {
        return service_usage();
    }
    rc = service_begin_route(ctl, "service end", argv[optind], 1, &s, &none,
                             route, sizeof(route));
    if (rc != 0) {
        return rc;
    }
    if (s.end_at != 0 && s.end_at <= now) {
        return cp_refuse(ctl->db, "service %s: already ended", s.code);
    }
    if (!force && !cp_lc_end_ok(now, end_at)) {
        cp_date_format(cp_lc_earliest_end(now), d, sizeof(d));
        return cp_refuse(ctl->db, "service %s: ending on %s gives less than"
                         " %d days' notice; the earliest is %s, or --force"
                         " --reason", s.code, date, CP_LC_END_DAYS, d);
    }
    before = cp_change_row(ctl->db, "services", s.id);
    st = cp_db_prepare(ctl->db, "UPDATE services SET end_at = ?2,"
                                " end_reason = ?3 WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "service %s: cannot end", s.code);
    }
    sqlite3_bind_int64(st, 1, s.id);
    sqlite3_bind_int64(st, 2, end_at);
    if (reason) {
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "service %s: %s", s.code,
                         sqlite3_errmsg(ctl->db));
    }
    /* shown from now as upcoming, and for 30 days after the end */
    if (service_announce(ctl, "service-end", s.code, end_at,
                         end_at + 30 * CP_DAY, reason, "service %s ends on"
                         " %s: every version stops being callable", s.code,
                         date) != 0)
    {
        free(before);
        return cp_refuse(ctl->db, "service %s: not ended", s.code);
    }
    return finish_service(ctl, &s, force ? "end-forced" : "end", before);
}

static int
service_suspend_resume(ctl_t *ctl, int argc, char **argv, int suspend)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char       *reason = NULL;
    const char       *what = suspend ? "service suspend" : "service resume";
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    char              route[160], *before;
    int               c, rc, now;

    while ((c = cp_getopt(argc, argv, opts, what)) != -1) {
        switch (c) {
        case O_REASON: reason = optarg; break;
        default: return service_usage();
        }
    }
    if (optind + 1 != argc || reason == NULL) {
        cp_bad("%s: needs CODE[/VERSION] and --reason", what);
        return service_usage();
    }
    if (cp_text_arg(what, "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return service_usage();
    }
    rc = service_begin_route(ctl, what, argv[optind], 1, &s, &v, route,
                             sizeof(route));
    if (rc != 0) {
        return rc;
    }
    now = v.id ? v.suspended : s.suspended;
    if (suspend && now) {
        return cp_refuse(ctl->db, "service %s: already suspended", route);
    }
    if (!suspend && !now) {
        return cp_refuse(ctl->db, "service %s: not suspended", route);
    }
    before = cp_change_row(ctl->db, v.id ? "versions" : "services",
                           v.id ? v.id : s.id);
    st = cp_db_prepare(ctl->db, v.id
                       ? "UPDATE versions SET suspended = ?2,"
                         " suspend_reason = ?3 WHERE id = ?1"
                       : "UPDATE services SET suspended = ?2,"
                         " suspend_reason = ?3 WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "service %s: cannot change", route);
    }
    sqlite3_bind_int64(st, 1, v.id ? v.id : s.id);
    sqlite3_bind_int(st, 2, suspend);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "service %s: %s", route,
                         sqlite3_errmsg(ctl->db));
    }
    if (v.id) {
        return service_finish_version(ctl, v.id, route,
                                      suspend ? "suspend" : "resume", before);
    }
    return finish_service(ctl, &s, suspend ? "suspend" : "resume", before);
}

static int
service_suspend(ctl_t *ctl, int argc, char **argv)
{
    return service_suspend_resume(ctl, argc, argv, 1);
}

static int
service_resume(ctl_t *ctl, int argc, char **argv)
{
    return service_suspend_resume(ctl, argc, argv, 0);
}

static int
service_list(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    cJSON        *arr, *o, *v;

    (void) argv;
    if (argc != 1) {
        cp_bad("service list: takes no arguments");
        return service_usage();
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM services ORDER BY code");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        o = cp_service_json(ctl->db, sqlite3_column_int64(st, 0));
        if (o != NULL) {
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-28s %-10s %-20s %-8s %s\n", "SERVICE/VERSION", "STATE",
           "PROVIDER", "RATE", "UPSTREAM");
    cJSON_ArrayForEach(o, arr) {
        int ssusp = cJSON_IsTrue(cJSON_GetObjectItem(o, "suspended"));

        cJSON_ArrayForEach(v, cJSON_GetObjectItem(o, "versions")) {
            char state[24], rate[16];

            snprintf(state, sizeof(state), "%s%s",
                     cJSON_GetObjectItem(v, "state")->valuestring,
                     ssusp || cJSON_IsTrue(cJSON_GetObjectItem(v, "suspended"))
                     ? "*" : "");
            snprintf(rate, sizeof(rate), "%d/s",
                     cJSON_GetObjectItem(v, "rate")->valueint);
            printf("%-28s %-10s %-20s %-8s %s\n",
                   cJSON_GetObjectItem(v, "route")->valuestring, state,
                   cJSON_GetObjectItem(o, "provider")->valuestring, rate,
                   cJSON_GetObjectItem(v, "upstream")->valuestring);
        }
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_service(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",       service_add,       1 },
        { "version",   service_version,   1 },
        { "set",       service_set,       1 },
        { "publish",   service_publish,   1 },
        { "deprecate", service_deprecate, 1 },
        { "retire",    service_retire,    1 },
        { "end",       service_end,       1 },
        { "suspend",   service_suspend,   1 },
        { "resume",    service_resume,    1 },
        { "list",      service_list,      1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "service");
}
