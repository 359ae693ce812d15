/* A JSON Schema (2020-12) subset validator for the registration forms. */

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "cp_jschema.h"

#define DEPTH_MAX  32

typedef struct {
    const cJSON  *root;           /* the schema, for $ref */
    char         *at;
    size_t        atsize;
    char         *why;
    size_t        size;
    int           schema_error;
} js_t;

static int validate(js_t *js, const cJSON *s, const cJSON *v, char *path,
                    size_t plen, int depth);

static const char *const annotations[] = {
    "$schema", "$id", "$defs", "title", "description", "$comment",
    "format", "examples",
};

static const char *const keywords[] = {
    "type", "enum", "const", "properties", "required",
    "additionalProperties", "items", "minItems", "maxItems", "uniqueItems",
    "minLength", "maxLength", "pattern", "minimum", "maximum", "$ref",
};

static int
in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(k, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
fail(js_t *js, const char *path, const char *fmt, const char *a)
{
    snprintf(js->at, js->atsize, "%s", path);
    snprintf(js->why, js->size, fmt, a);
    return -1;
}

static int
schema_fail(js_t *js, const char *path, const char *fmt, const char *a)
{
    js->schema_error = 1;
    snprintf(js->at, js->atsize, "%s", path);
    snprintf(js->why, js->size, fmt, a);
    return -1;
}

static const char *
type_of(const cJSON *v)
{
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNull(v)) return "null";
    return "number";
}

static int
is_type(const cJSON *v, const char *t)
{
    if (strcmp(t, "integer") == 0) {
        return cJSON_IsNumber(v) && isfinite(v->valuedouble)
               && floor(v->valuedouble) == v->valuedouble;
    }
    return strcmp(t, type_of(v)) == 0;
}

/* characters of a UTF-8 string (JSON Schema lengths count code points);
 * a form's strings are checked well formed first (cp_forms.c) */
static size_t
chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char) *s & 0xc0) != 0x80;
    }
    return n;
}

size_t
cp_jschema_push(char *path, size_t plen, size_t cap, const char *key)
{
    size_t n = plen;

    if (n + 1 < cap) {
        path[n++] = '/';
    }
    for (; *key && n + 2 < cap; key++) {
        if (*key == '~' || *key == '/') {
            path[n++] = '~';
            path[n++] = *key == '~' ? '0' : '1';
        } else {
            path[n++] = *key;
        }
    }
    path[n] = '\0';
    return n;
}

#define PATH_CAP  512

static int
check_type(js_t *js, const cJSON *t, const cJSON *v, const char *path)
{
    char want[128] = "";

    if (cJSON_IsString(t)) {
        if (is_type(v, t->valuestring)) {
            return 0;
        }
        return fail(js, path, "must be of type %s", t->valuestring);
    }
    if (!cJSON_IsArray(t)) {
        return schema_fail(js, path, "schema: \"type\" is %s",
                           "neither a string nor an array");
    }
    for (const cJSON *e = t->child; e; e = e->next) {
        if (cJSON_IsString(e) && is_type(v, e->valuestring)) {
            return 0;
        }
        if (cJSON_IsString(e)) {
            strncat(want, want[0] ? " or " : "", sizeof(want) - strlen(want)
                    - 1);
            strncat(want, e->valuestring, sizeof(want) - strlen(want) - 1);
        }
    }
    return fail(js, path, "must be of type %s", want);
}

static int
check_enum(js_t *js, const cJSON *e, const cJSON *v, const char *path)
{
    char list[256] = "";

    for (const cJSON *x = e->child; x; x = x->next) {
        if (cJSON_Compare(x, v, 1)) {
            return 0;
        }
        if (cJSON_IsString(x) && strlen(list) + strlen(x->valuestring) + 4
            < sizeof(list))
        {
            if (list[0]) {
                strcat(list, ", ");
            }
            strcat(list, x->valuestring);
        }
    }
    return fail(js, path, "must be one of: %s", list);
}

static int
check_pattern(js_t *js, const char *pattern, const char *s,
              const char *path)
{
    regex_t re;
    int     rc;

    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        return schema_fail(js, path, "schema: bad pattern %s", pattern);
    }
    rc = regexec(&re, s, 0, NULL, 0);
    regfree(&re);
    if (rc != 0) {
        return fail(js, path, "does not match %s", pattern);
    }
    return 0;
}

static const cJSON *
resolve(js_t *js, const char *ref, const char *path)
{
    const cJSON *defs;

    if (strncmp(ref, "#/$defs/", 8) != 0) {
        schema_fail(js, path, "schema: only \"#/$defs/NAME\" references,"
                    " not %s", ref);
        return NULL;
    }
    defs = cJSON_GetObjectItemCaseSensitive(js->root, "$defs");
    defs = cJSON_GetObjectItemCaseSensitive(defs, ref + 8);
    if (defs == NULL) {
        schema_fail(js, path, "schema: %s is not defined", ref);
    }
    return defs;
}

static int
check_object(js_t *js, const cJSON *s, const cJSON *v, char *path,
             size_t plen, int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(s,
                                                       "additionalProperties");

    for (const cJSON *r = req ? req->child : NULL; r; r = r->next) {
        if (!cJSON_IsString(r)) {
            return schema_fail(js, path, "schema: %s", "required: strings");
        }
        if (cJSON_GetObjectItemCaseSensitive(v, r->valuestring) == NULL) {
            size_t n = cp_jschema_push(path, plen, PATH_CAP, r->valuestring);
            int    rc = fail(js, path, "is required%s", "");

            (void) n;
            path[plen] = '\0';
            return rc;
        }
    }
    for (const cJSON *m = v->child; m; m = m->next) {
        const cJSON *ps = props
                          ? cJSON_GetObjectItemCaseSensitive(props, m->string)
                          : NULL;
        size_t       n = cp_jschema_push(path, plen, PATH_CAP, m->string);
        int          rc = 0;

        if (ps != NULL) {
            rc = validate(js, ps, m, path, n, depth + 1);
        } else if (cJSON_IsFalse(add)) {
            rc = fail(js, path, "is not a field of this form%s", "");
        } else if (cJSON_IsObject(add)) {
            rc = validate(js, add, m, path, n, depth + 1);
        }
        path[plen] = '\0';
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
check_array(js_t *js, const cJSON *s, const cJSON *v, char *path,
            size_t plen, int depth)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *uniq = cJSON_GetObjectItemCaseSensitive(s, "uniqueItems");
    char         idx[24];
    int          i = 0, rc;

    for (const cJSON *e = v->child; e; e = e->next, i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        size_t n = cp_jschema_push(path, plen, PATH_CAP, idx);

        if (items != NULL) {
            rc = validate(js, items, e, path, n, depth + 1);
            if (rc != 0) {
                path[plen] = '\0';
                return rc;
            }
        }
        if (cJSON_IsTrue(uniq)) {
            for (const cJSON *f = v->child; f != e; f = f->next) {
                if (cJSON_Compare(e, f, 1)) {
                    rc = fail(js, path, "repeats an earlier item%s", "");
                    path[plen] = '\0';
                    return rc;
                }
            }
        }
        path[plen] = '\0';
    }
    return 0;
}

static int
number_kw(js_t *js, const cJSON *s, const char *k, const char *path,
          double *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, k);

    if (x == NULL) {
        return 0;
    }
    if (!cJSON_IsNumber(x)) {
        return schema_fail(js, path, "schema: %s must be a number", k);
    }
    *out = x->valuedouble;
    return 1;
}

static int
validate(js_t *js, const cJSON *s, const cJSON *v, char *path, size_t plen,
         int depth)
{
    const cJSON *k;
    double       lim;
    int          rc;

    if (depth > DEPTH_MAX) {
        return fail(js, path, "nested too deeply%s", "");
    }
    if (cJSON_IsTrue(s)) {
        return 0;
    }
    if (cJSON_IsFalse(s)) {
        return fail(js, path, "is not allowed here%s", "");
    }
    if (!cJSON_IsObject(s)) {
        return schema_fail(js, path, "schema: %s", "not an object");
    }
    for (k = s->child; k; k = k->next) {
        if (!in_list(k->string, keywords,
                     sizeof(keywords) / sizeof(keywords[0]))
            && !in_list(k->string, annotations,
                        sizeof(annotations) / sizeof(annotations[0])))
        {
            return schema_fail(js, path, "schema: keyword %s is not"
                               " supported", k->string);
        }
    }

    if ((k = cJSON_GetObjectItemCaseSensitive(s, "$ref")) != NULL) {
        const cJSON *t = resolve(js, cJSON_IsString(k) ? k->valuestring : "",
                                 path);

        if (t == NULL) {
            return -1;
        }
        if ((rc = validate(js, t, v, path, plen, depth + 1)) != 0) {
            return rc;
        }
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "type")) != NULL
        && (rc = check_type(js, k, v, path)) != 0)
    {
        return rc;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "const")) != NULL
        && !cJSON_Compare(k, v, 1))
    {
        if (cJSON_IsString(k)) {
            return fail(js, path, "must be \"%s\"", k->valuestring);
        }
        return fail(js, path, "must be %s", cJSON_IsTrue(k) ? "true"
                    : cJSON_IsFalse(k) ? "false" : "the constant value");
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "enum")) != NULL
        && (rc = check_enum(js, k, v, path)) != 0)
    {
        return rc;
    }

    if (cJSON_IsString(v)) {
        size_t n = chars(v->valuestring);
        char   lims[32];

        if ((rc = number_kw(js, s, "minLength", path, &lim)) < 0) {
            return rc;
        }
        if (rc && (double) n < lim) {
            snprintf(lims, sizeof(lims), "%.0f", lim);
            return fail(js, path, lim <= 1 ? "must not be empty%.0s"
                        : "must be at least %s characters", lims);
        }
        if ((rc = number_kw(js, s, "maxLength", path, &lim)) < 0) {
            return rc;
        }
        if (rc && (double) n > lim) {
            snprintf(lims, sizeof(lims), "%.0f", lim);
            return fail(js, path, "must be at most %s characters", lims);
        }
        k = cJSON_GetObjectItemCaseSensitive(s, "pattern");
        if (k != NULL && (rc = check_pattern(js, cJSON_IsString(k)
                                             ? k->valuestring : "(",
                                             v->valuestring, path)) != 0)
        {
            return rc;
        }
    }
    if (cJSON_IsNumber(v)) {
        char lims[32];

        if ((rc = number_kw(js, s, "minimum", path, &lim)) < 0) {
            return rc;
        }
        if (rc && v->valuedouble < lim) {
            snprintf(lims, sizeof(lims), "%g", lim);
            return fail(js, path, "must be at least %s", lims);
        }
        if ((rc = number_kw(js, s, "maximum", path, &lim)) < 0) {
            return rc;
        }
        if (rc && v->valuedouble > lim) {
            snprintf(lims, sizeof(lims), "%g", lim);
            return fail(js, path, "must be at most %s", lims);
        }
    }
    if (cJSON_IsArray(v)) {
        int  n = cJSON_GetArraySize(v);
        char lims[32];

        if ((rc = number_kw(js, s, "minItems", path, &lim)) < 0) {
            return rc;
        }
        if (rc && n < lim) {
            snprintf(lims, sizeof(lims), "%.0f", lim);
            return fail(js, path, "needs at least %s items", lims);
        }
        if ((rc = number_kw(js, s, "maxItems", path, &lim)) < 0) {
            return rc;
        }
        if (rc && n > lim) {
            snprintf(lims, sizeof(lims), "%.0f", lim);
            return fail(js, path, "has more than %s items", lims);
        }
        if ((rc = check_array(js, s, v, path, plen, depth)) != 0) {
            return rc;
        }
    }
    if (cJSON_IsObject(v)) {
        return check_object(js, s, v, path, plen, depth);
    }
    return 0;
}

int
cp_jschema_validate(const cJSON *schema, const cJSON *instance, char *at,
                    size_t atsize, char *why, size_t size)
{
    js_t js = { schema, at, atsize, why, size, 0 };
    char path[PATH_CAP] = "";

    if (validate(&js, schema, instance, path, 0, 0) == 0) {
        return 0;
    }
    return js.schema_error ? -2 : -1;
}
