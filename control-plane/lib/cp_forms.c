/* Registration forms: load, validate against the shipped schemas, print. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_forms.h"
#include "cp_jschema.h"
#include "cp_text.h"
#include "cp_util.h"
#include "lgsp_form_schemas.h"

static const char *
schema_text(const char *form)
{
    for (size_t i = 0; i < LGSP_FORM_SCHEMAS_N; i++) {
        if (strcmp(lgsp_form_schemas[i].form, form) == 0) {
            return lgsp_form_schemas[i].schema;
        }
    }
    return NULL;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * A member name given twice in one object: cJSON keeps both and lgspctl
 * reads the first, where python's json module and jq read the last, so
 * the letter printed for signing and the form kept in the registry would
 * say different things to different readers.  Sorted, not compared pair
 * by pair: a 1 MB form may have an object of 100000 members.  0 with *dup
 * the name or NULL; -1 when out of memory.
 */
static int
repeated_name(const cJSON *o, const char **dup)
{
    const char **names;
    size_t       n = 0;

    *dup = NULL;
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        n++;
    }
    if (n < 2) {
        return 0;
    }
    names = malloc(n * sizeof(*names));
    if (names == NULL) {
        return -1;
    }
    n = 0;
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        names[n++] = m->string;
    }
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 1; i < n && *dup == NULL; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            *dup = names[i];
        }
    }
    free(names);
    return 0;
}

/*
 * Every member name and string of a form is text the registry stores,
 * lists and prints for signing: well-formed UTF-8 without control
 * characters (newlines allowed in values: descriptions and examples run
 * over lines).  0, or -1 with "/path: why".
 */
static int
check_text(const cJSON *v, char *path, size_t plen, size_t cap, char *why,
           size_t size)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    char        idx[24];
    size_t      bad, n;
    int         i = 0, rc;

    if (s != NULL
        && (rc = cp_text_check(s, strlen(s), CP_TEXT_LINES, &bad)) != 0)
    {
        snprintf(why, size, "%s: %s (byte %zu)", plen ? path : "/",
                 rc == CP_TEXT_UTF8 ? "is not valid UTF-8"
                                    : "has a control character", bad + 1);
        return -1;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) {
        return 0;
    }
    for (const cJSON *m = v->child; m != NULL; m = m->next, i++) {
        const char *key = m->string;

        if (cJSON_IsArray(v)) {
            snprintf(idx, sizeof(idx), "%d", i);
            key = idx;
        } else if (cp_text_check(key, strlen(key), 0, NULL) != 0) {
            snprintf(why, size, "%s: a field name is not valid UTF-8 or"
                     " has a control character", plen ? path : "/");
            return -1;
        }
        n = cp_jschema_push(path, plen, cap, key);
        rc = check_text(m, path, n, cap, why, size);
        path[plen] = '\0';
        if (rc != 0) {
            return rc;
        }
    }
    if (cJSON_IsObject(v)) {
        const char *dup;

        if (repeated_name(v, &dup) != 0) {
            snprintf(why, size, "%s: out of memory", plen ? path : "/");
            return -1;
        }
        if (dup != NULL) {
            cp_jschema_push(path, plen, cap, dup);
            snprintf(why, size, "%s: is given twice", path);
            path[plen] = '\0';
            return -1;
        }
    }
    return 0;
}

int
cp_form_validate(const cJSON *doc, const char *form, char *why, size_t size)
{
    const char *text = schema_text(form);
    cJSON      *schema;
    char        at[512], what[256];
    int         rc;

    /* first: a schema error would quote a bad member name as it is */
    at[0] = '\0';
    if (check_text(doc, at, 0, sizeof(at), why, size) != 0) {
        return -1;
    }
    if (text == NULL || (schema = cJSON_Parse(text)) == NULL) {
        snprintf(why, size, "no schema for form %s", form);
        return -1;
    }
    rc = cp_jschema_validate(schema, doc, at, sizeof(at), what,
                             sizeof(what));
    cJSON_Delete(schema);
    if (rc == 0) {
        return 0;
    }
    snprintf(why, size, "%s: %s", at[0] ? at : "/", what);
    return -1;
}

/* the line of text that the byte at end is on */
static int
line_of(const char *text, const char *end)
{
    int line = 1;

    for (const char *p = text; end != NULL && p < end && *p; p++) {
        line += *p == '\n';
    }
    return line;
}

cJSON *
cp_form_parse(const char *text, size_t len, const char *file,
              const char *form, char *why, size_t size)
{
    const char *end = NULL;
    char        inner[600];
    size_t      bad;
    long        nul;
    cJSON      *doc;

    /* JSON is UTF-8 (RFC 8259 §8.1); cJSON passes any bytes through */
    if (!cp_utf8_valid(text, len, &bad)) {
        snprintf(why, size, "%s: line %d: not valid UTF-8 (byte %zu)", file,
                 line_of(text, text + bad), bad + 1);
        return NULL;
    }
    /* len + 1: cJSON wants to see the terminating NUL after the document */
    doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (doc == NULL) {
        snprintf(why, size, "%s: line %d: not a JSON document", file,
                 line_of(text, end));
        return NULL;
    }
    if ((nul = cp_json_nul(text, len)) >= 0) {
        snprintf(why, size, "%s: line %d: %s", file,
                 line_of(text, text + nul), text[nul] == '\0'
                 ? "a NUL byte" : "a string holds \\u0000");
        cJSON_Delete(doc);
        return NULL;
    }
    if (cp_form_validate(doc, form, inner, sizeof(inner)) != 0) {
        snprintf(why, size, "%s: %s", file, inner);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

cJSON *
cp_form_load(const char *file, const char *form, char *why, size_t size)
{
    char   *text;
    size_t  len;
    cJSON  *doc;

    text = cp_read_file(file, CP_FORM_MAX, &len);
    if (text == NULL) {
        snprintf(why, size, "%s: %s", file,
                 errno == EFBIG ? "larger than 1 MB" : strerror(errno));
        return NULL;
    }
    doc = cp_form_parse(text, len, file, form, why, size);
    free(text);
    return doc;
}

const char *
cp_form_str(const cJSON *doc, const char *path)
{
    char        key[64];
    const cJSON *o = doc;

    while (*path && o != NULL) {
        size_t n = strcspn(path, "/");

        if (n >= sizeof(key)) {
            return NULL;
        }
        memcpy(key, path, n);
        key[n] = '\0';
        o = cJSON_GetObjectItemCaseSensitive(o, key);
        path += n + (path[n] == '/');
    }
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* --- the letters -------------------------------------------------------- */

/* a field, or the dotted blank of the paper form */
static const char *
f(const cJSON *doc, const char *path)
{
    const char *s = cp_form_str(doc, path);

    return s != NULL ? s : "..........";
}

static void
date_line(FILE *out, const char *place, const char *date)
{
    int y, m, d;

    if (date != NULL && sscanf(date, "%4d-%2d-%2d", &y, &m, &d) == 3) {
        fprintf(out, "%s, ngày %02d tháng %02d năm %04d\n", place, d, m, y);
    } else {
        fprintf(out, "%s, ngày ... tháng ... năm ....\n", place);
    }
}

static void
bases(FILE *out, const cJSON *doc)
{
    const cJSON *b;

    fprintf(out, "Căn cứ Nghị định số 278/2025/NĐ-CP ngày 22/10/2025 của"
            " Chính phủ quy định về kết nối, chia sẻ dữ liệu bắt buộc giữa"
            " các cơ quan thuộc hệ thống chính trị;\n\n"
            "Căn cứ Quyết định số 292/QĐ-BKHCN ngày 25/3/2025 Ban hành Khung"
            " kiến trúc Chính phủ số Việt Nam, Phiên bản 4.0;\n\n");
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "bases")) {
        if (cJSON_IsString(b)) {
            fprintf(out, "%s;\n\n", b->valuestring);
        }
    }
    fprintf(out, "Căn cứ Quyết định của UBND Thành phố Hà Nội về Ban hành quy"
            " chế quản lý, vận hành và khai thác Nền tảng tích hợp, chia sẻ"
            " dữ liệu (LGSP) thành phố Hà Nội;\n\n"
            "Căn cứ Văn bản của Sở Khoa học và Công nghệ Hà Nội ban hành"
            " hướng dẫn kết nối và chia sẻ dữ liệu thông qua Nền tảng tích"
            " hợp, chia sẻ dữ liệu (LGSP) thành phố Hà Nội,\n\n");
}

static void
header(FILE *out, const cJSON *doc)
{
    const char *gov = cp_form_str(doc, "agency/governing_body");

    fprintf(out, "%s\n%s\n\n", gov != NULL ? gov : "UBND THÀNH PHỐ HÀ NỘI",
            f(doc, "agency/name"));
    fprintf(out, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
            "Độc lập - Tự do - Hạnh phúc\n\n");
    fprintf(out, "Số: %s\n", f(doc, "document/number"));
    date_line(out, "Hà Nội", cp_form_str(doc, "document/date"));
    fprintf(out, "\n");
}

static void
contact(FILE *out, const cJSON *doc, const char *label)
{
    fprintf(out, "%s: %s; %s; %s, %s.\n", label, f(doc, "contact/name"),
            f(doc, "contact/unit"), f(doc, "contact/phone"),
            f(doc, "contact/email"));
}

static void
signature(FILE *out, const cJSON *doc, const char *office)
{
    fprintf(out, "\nTrân trọng./.\n\n"
            "Nơi nhận:\n- Như trên;\n- Cơ quan chủ quản (để b/c);\n"
            "- VT, %s.\n\n", office);
    fprintf(out, "%s\n(ký, ghi rõ họ tên, đóng dấu)\n\n%s\n",
            f(doc, "signer/title"), f(doc, "signer/name"));
}

static void
list_line(FILE *out, const char *label, const cJSON *arr)
{
    const cJSON *e;
    int          first = 1;

    fprintf(out, "  - %s: ", label);
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsString(e)) {
            fprintf(out, "%s%s", first ? "" : ", ", e->valuestring);
            first = 0;
        }
    }
    fprintf(out, "\n");
}

static void
render_01(const cJSON *doc, FILE *out)
{
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(doc, "service");
    const cJSON *h;

    header(out, doc);
    fprintf(out, "V/v cung cấp dịch vụ chia sẻ dữ liệu %s trên Nền tảng tích"
            " hợp, chia sẻ dữ liệu (LGSP) thành phố Hà Nội\n\n",
            f(doc, "service/name"));
    fprintf(out, "Kính gửi: Sở Khoa học và Công nghệ thành phố Hà Nội\n\n");
    bases(out, doc);
    fprintf(out, "%s trân trọng đề nghị Sở Khoa học và Công nghệ phối hợp,"
            " triển khai cung cấp dịch vụ chia sẻ dữ liệu %s trên Nền tảng"
            " tích hợp, chia sẻ dữ liệu (LGSP) thành phố Hà Nội. Tài liệu"
            " hướng dẫn kỹ thuật kết nối dịch vụ chia sẻ dữ liệu xin gửi kèm"
            " theo.\n\n", f(doc, "agency/name"), f(doc, "service/name"));
    fprintf(out, "Thông tin dịch vụ (Phụ lục 01, mục 3.1):\n");
    fprintf(out, "  - Mã dịch vụ: %s, phiên bản %s; hệ thống cung cấp: %s\n",
            f(doc, "service/code"),
            cp_form_str(doc, "service/version") ? f(doc, "service/version")
                                                : "v1",
            f(doc, "provider"));
    fprintf(out, "  - Mục đích: %s\n", f(doc, "service/purpose"));
    fprintf(out, "  - Cơ chế xác thực: %s\n", f(doc, "service/auth"));
    list_line(out, "Method",
              cJSON_GetObjectItemCaseSensitive(svc, "methods"));
    fprintf(out, "  - URL: %s\n", f(doc, "service/upstream"));
    if (cp_form_str(doc, "service/sandbox_upstream") != NULL) {
        fprintf(out, "  - URL thử nghiệm: %s\n",
                f(doc, "service/sandbox_upstream"));
    }
    list_line(out, "Định dạng gói tin",
              cJSON_GetObjectItemCaseSensitive(svc, "content_types"));
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(svc, "headers")) {
        fprintf(out, "  - Header %s%s: %s\n", f(h, "name"),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "required"))
                ? " (bắt buộc)" : "", f(h, "description"));
    }
    fprintf(out, "  - Body request (ví dụ): %s\n",
            f(doc, "service/request_example"));
    fprintf(out, "  - Body response (ví dụ): %s\n",
            f(doc, "service/response_example"));
    fprintf(out, "  - Tài liệu: %s\n", f(doc, "service/documentation"));
    if (cp_form_str(doc, "service/health_url") != NULL) {
        fprintf(out, "  - Tình trạng kết nối: %s\n",
                f(doc, "service/health_url"));
    }
    fprintf(out, "\n");
    contact(out, doc, "Cán bộ đầu mối phối hợp");
    signature(out, doc, "cơ quan, tổ chức quản lý trực tiếp");
}

static void
render_02(const cJSON *doc, FILE *out)
{
    header(out, doc);
    fprintf(out, "V/v đăng ký kết nối, khai thác dịch vụ chia sẻ dữ liệu"
            " \"%s\"\n\n", f(doc, "system_name"));
    fprintf(out, "Kính gửi:\n  - %s;\n  - Sở Khoa học và Công nghệ.\n\n",
            f(doc, "recipient"));
    bases(out, doc);
    fprintf(out, "%s trân trọng gửi Sở Khoa học và Công nghệ đăng ký nhu cầu"
            " kết nối, khai thác dịch vụ chia sẻ dữ liệu %s (môi trường %s)"
            " cho hệ thống \"%s\" (%s), cụ thể:\n\n", f(doc, "agency/name"),
            f(doc, "service"),
            cp_form_str(doc, "env") != NULL
            && strcmp(cp_form_str(doc, "env"), "sandbox") == 0
            ? "thử nghiệm" : "chính thức",
            f(doc, "system_name"), f(doc, "consumer"));
    fprintf(out, "1. Mục đích sử dụng: %s\n", f(doc, "purpose"));
    fprintf(out, "2. Phạm vi sử dụng tại cơ quan chủ quản: %s\n",
            f(doc, "scope"));
    contact(out, doc, "3. Đầu mối phối hợp");
    fprintf(out, "4. Các đề xuất, kiến nghị khác: %s\n",
            cp_form_str(doc, "proposals") ? f(doc, "proposals") : "không.");
    signature(out, doc, "cơ quan, tổ chức được giao chủ trì kết nối, chia sẻ"
              " dữ liệu");
}

static void
render_03(const cJSON *doc, FILE *out)
{
    const char *org = f(doc, "organisation");
    int         y, m, d;

    fprintf(out, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
            "Độc lập - Tự do - Hạnh phúc\n\n"
            "BẢN CAM KẾT BẢO ĐẢM AN TOÀN, BẢO MẬT THÔNG TIN\n\n");
    if (sscanf(f(doc, "date"), "%4d-%2d-%2d", &y, &m, &d) == 3) {
        fprintf(out, "Hôm nay, ngày %02d/%02d/%04d, tại %s\n\n", d, m, y,
                f(doc, "place"));
    }
    fprintf(out, "Tôi tên là: %s\n", f(doc, "signer/name"));
    fprintf(out, "Số CMND/CCCD: %s\n", f(doc, "signer/id_number"));
    fprintf(out, "Số điện thoại: %s\n", f(doc, "signer/phone"));
    fprintf(out, "Ngày cấp: %s\n", f(doc, "signer/id_issued_on"));
    fprintf(out, "Nơi cấp: %s\n", f(doc, "signer/id_issued_by"));
    fprintf(out, "Chức vụ: %s\n", f(doc, "signer/title"));
    fprintf(out, "Là đại diện cho đơn vị, tổ chức: %s\n", org);
    fprintf(out, "Hệ thống thông tin kết nối: %s\n\n", f(doc, "system"));
    fprintf(out, "Cam kết thực hiện đúng và đầy đủ các nội dung được quy định"
            " trong bản cam kết bảo đảm an toàn, bảo mật thông tin cụ thể"
            " như sau:\n\n"
            "1. Quy định chung\n\n"
            "Bản cam kết này có giá trị ràng buộc bắt buộc với cơ quan, tổ"
            " chức và đơn vị chủ quản các HTTT/CSDL có nhu cầu kết nối với"
            " Trục LGSP Thành phố Hà Nội.\n\n"
            "2. Nội dung cam kết\n\n"
            "Là đại diện cho: %s, tôi cam kết thực hiện nghiêm túc những nội"
            " dung về bảo đảm an toàn, bảo mật thông tin và bảo mật dữ liệu"
            " sau đây:\n\n", org);
    fprintf(out, "a. Thực hiện nghiêm Luật bảo vệ bí mật nhà nước. Quản lý,"
            " sử dụng dữ liệu đúng mục đích yêu cầu nghiệp vụ, đối tượng sử"
            " dụng, bảo đảm an toàn cho những thông tin nhận được theo quy"
            " định tại Khoản 1 Điều 28 Nghị định số 278/2025/NĐ-CP và khoản"
            " 2, Điều 17 Luật An ninh mạng số 24/2018/QH14. %s có trách"
            " nhiệm tổ chức thực hiện các biện pháp an toàn bảo mật thông tin"
            " theo quy định pháp luật, Quy chế bảo đảm an toàn thông tin mạng"
            " trong hoạt động của các cơ quan nhà nước thành phố Hà Nội"
            " (Quyết định số 2223/QĐ-UBND ngày 14/4/2023) và quy chế tại"
            " Quyết định số 54/QĐ-UBND ngày 30/08/2024.\n\n", org);
    fprintf(out, "b. Trong quá trình triển khai thực hiện kết nối các"
            " HTTT/CSDL (bao gồm cả đường truyền kết nối từ hệ thống tới trục"
            " LGSP) do đơn vị mình quản lý với trục LGSP Thành phố Hà Nội,"
            " không thực hiện các hành vi cố ý gây mất an toàn bảo mật thông"
            " tin. %s có trách nhiệm yêu cầu các cá nhân tham gia xây dựng,"
            " triển khai kết nối thực hiện ký cam kết bảo đảm an toàn bảo mật"
            " thông tin.\n\n", org);
    fprintf(out, "c. Thông báo ngay cho Sở Khoa học và Công nghệ thành phố Hà"
            " Nội và các cấp có thẩm quyền khi phát hiện các vấn đề có thể"
            " gây mất an toàn thông tin bảo mật.\n\n");
    date_line(out, "Hà Nội", cp_form_str(doc, "date"));
    fprintf(out, "ĐẠI DIỆN                    NGƯỜI CAM KẾT\n"
            "(ký, đóng dấu)              (ký, ghi rõ họ tên)\n\n"
            "                            %s\n", f(doc, "signer/name"));
}

void
cp_form_render(const cJSON *doc, FILE *out)
{
    const char *form = cp_form_str(doc, "form");

    if (form == NULL) {
        return;
    }
    if (strcmp(form, "01") == 0) {
        fprintf(out, "Mẫu số 01\n\n");
        render_01(doc, out);
    } else if (strcmp(form, "02") == 0) {
        fprintf(out, "Mẫu số 02\n\n");
        render_02(doc, out);
    } else if (strcmp(form, "03") == 0) {
        fprintf(out, "Mẫu số 03\n\n");
        render_03(doc, out);
    }
}
