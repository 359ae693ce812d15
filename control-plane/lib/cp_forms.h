#ifndef CP_FORMS_H
#define CP_FORMS_H

#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

/*
 * The registration forms of Appendix 02 as JSON documents: Form 01 (offer
 * a service), 02 (request access), 03 (security commitment).  Their
 * schemas are schemas/forms/form-NN.schema.json, compiled in.
 */

#define CP_FORM_MAX  (1024 * 1024)

/* Read FILE, parse it and validate it against form NN ("01", "02", "03").
 * The document, or NULL with why: "FILE: line L: not JSON",
 * "FILE: /service/methods/0: must be one of: ...". */
cJSON *cp_form_load(const char *file, const char *form, char *why,
                    size_t size);

/* The same for a form's text already in memory: text[len] must be a NUL
 * (as cp_read_file leaves it), file names it in messages. */
cJSON *cp_form_parse(const char *text, size_t len, const char *file,
                     const char *form, char *why, size_t size);

/* Validate a parsed document: 0, or -1 with "/path: what is wrong". */
int cp_form_validate(const cJSON *doc, const char *form, char *why,
                     size_t size);

/* The string at a "/"-separated path of the document, or NULL. */
const char *cp_form_str(const cJSON *doc, const char *path);

/* Print the filled form as the text of the official letter (Vietnamese,
 * Appendix 02) for signing. */
void cp_form_render(const cJSON *doc, FILE *out);

#endif /* CP_FORMS_H */
