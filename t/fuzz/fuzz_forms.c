/*
 * libFuzzer driver for the registration forms: the input is a form file as
 * an agency sends it, read by cp_form_parse() (UTF-8, cJSON, NUL checks)
 * and validated by cp_jschema.c against each of the Form schemas compiled
 * in from schemas/forms (build/gen/lgsp_form_schemas.h).
 *
 * Checked for a form accepted as NN: its "form" is NN; the members that
 * lgspctl's commands use without looking (cmd_service.c, cmd_request.c,
 * cmd_system.c) are there with the right types; the text holds no NUL;
 * printed back by cJSON it is accepted again as the same document; and
 * the letter cp_form_render() prints for signing is valid UTF-8 with no
 * control character but newline and tab.  A refusal says why, naming the
 * file, inside the buffer given.
 *
 *   make build/bin/fuzz_forms   (needs build/gen, made by make)
 *   ./fuzz_forms -dict=t/fuzz/json.dict t/fuzz/corpus/forms \
 *       t/fixtures/forms/valid t/fixtures/forms/invalid
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cp_forms.h"
#include "cp_text.h"


#define FUZZ_FILE  "fuzz.json"


static const char  *fuzz_forms[] = { "01", "02", "03" };


static void
fuzz_string_at(const cJSON *doc, const char *path)
{
    if (cp_form_str(doc, path) == NULL) {
        abort();
    }
}


/* what the commands take from an accepted form without a NULL check */
static void
fuzz_fields(const cJSON *doc, const char *form)
{
    const cJSON  *svc, *m;

    if (strcmp(cp_form_str(doc, "form") ? cp_form_str(doc, "form") : "",
               form) != 0)
    {
        abort();
    }

    if (strcmp(form, "01") == 0) {
        fuzz_string_at(doc, "service/code");
        fuzz_string_at(doc, "provider");
        fuzz_string_at(doc, "service/name");
        fuzz_string_at(doc, "service/purpose");

        svc = cJSON_GetObjectItemCaseSensitive(doc, "service");

        /* offer_form() joins the methods into 96 bytes */
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(svc,
                                                               "methods"))
            > 5)
        {
            abort();
        }

        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(svc,
                                                              "methods"))
        {
            if (!cJSON_IsString(m) || strlen(m->valuestring) > 6) {
                abort();
            }
        }

    } else if (strcmp(form, "02") == 0) {
        fuzz_string_at(doc, "consumer");
        fuzz_string_at(doc, "service");
        fuzz_string_at(doc, "purpose");
        fuzz_string_at(doc, "scope");

    } else {
        fuzz_string_at(doc, "system");
        fuzz_string_at(doc, "signer/name");
        fuzz_string_at(doc, "date");
    }
}


static void
fuzz_render(const cJSON *doc)
{
    FILE    *out;
    char    *text;
    size_t   len, bad;

    text = NULL;
    len = 0;

    out = open_memstream(&text, &len);
    if (out == NULL) {
        abort();
    }

    cp_form_render(doc, out);

    if (fclose(out) != 0
        || cp_text_check(text, len, CP_TEXT_LINES, &bad) != CP_TEXT_OK)
    {
        abort();
    }

    free(text);
}


static void
fuzz_again(const cJSON *doc, const char *form)
{
    char   *text, why[1024];
    cJSON  *back;

    text = cJSON_PrintUnformatted(doc);
    if (text == NULL) {
        abort();
    }

    back = cp_form_parse(text, strlen(text), FUZZ_FILE, form, why,
                         sizeof(why));

    if (back == NULL || !cJSON_Compare(doc, back, 1)) {
        abort();
    }

    cJSON_Delete(back);
    cJSON_free(text);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *text, why[1024];
    size_t   k;
    cJSON   *doc;

    if (size > CP_FORM_MAX) {
        return 0;
    }

    /* as cp_read_file() leaves it: the bytes and a NUL */
    text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }

    memcpy(text, data, size);
    text[size] = '\0';

    for (k = 0; k < sizeof(fuzz_forms) / sizeof(fuzz_forms[0]); k++) {
        memset(why, 0x55, sizeof(why));

        doc = cp_form_parse(text, size, FUZZ_FILE, fuzz_forms[k], why,
                            sizeof(why));

        if (doc == NULL) {
            if (memchr(why, '\0', sizeof(why)) == NULL
                || strncmp(why, FUZZ_FILE ": ", sizeof(FUZZ_FILE ": ") - 1)
                   != 0)
            {
                abort();
            }

            continue;
        }

        if (memchr(text, '\0', size) != NULL) {
            abort();
        }

        fuzz_fields(doc, fuzz_forms[k]);
        fuzz_again(doc, fuzz_forms[k]);
        fuzz_render(doc);

        cJSON_Delete(doc);
    }

    free(text);

    return 0;
}
