/*
 * LGSP: verification of compact JWS access tokens (RFC 7515, RFC 7519).
 *
 * Pure C, no nginx types: the module calls it on the hot path and the Check
 * tests and the fuzzer link it directly.  Parsing never allocates: decoded
 * bytes go into a scratch buffer the caller owns, and every string returned
 * points into that buffer.  Only the signature check calls into libcrypto.
 */

#ifndef _LGSP_JWT_H_INCLUDED_
#define _LGSP_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>


/* SPEC §4: a token over 8 KB is invalid_token, whatever it holds */
#define LGSP_JWT_MAX_LEN         8192

/*
 * Enough scratch for any token lgsp_jwt_parse() accepts: the three segments
 * hold at most 8190 base64url characters, which decode to at most 6142 bytes.
 */
#define LGSP_JWT_SCRATCH_SIZE    6144

/* audiences kept from an "aud" array; later ones are ignored (never matched) */
#define LGSP_JWT_MAX_AUD         4

/* members of the header or of the claims object; more is refused */
#define LGSP_JWT_MAX_MEMBERS     64

/* nesting allowed inside a value we skip (an unknown claim) */
#define LGSP_JWT_MAX_DEPTH       8

/* DER ECDSA-Sig-Value of a P-256 signature: SEQUENCE of two INTEGER(33) */
#define LGSP_JWT_ES256_DER_MAX   72


typedef enum {
    LGSP_JWT_OK = 0,
    LGSP_JWT_TOO_LONG,          /* over LGSP_JWT_MAX_LEN */
    LGSP_JWT_MALFORMED,         /* not three base64url segments */
    LGSP_JWT_NO_SPACE,          /* scratch buffer too small */
    LGSP_JWT_BAD_JSON,          /* header or claims not a strict JSON object */
    LGSP_JWT_DUPLICATE,         /* a member name given twice */
    LGSP_JWT_BAD_ALG,           /* "alg" missing, "none", HS*, or unknown */
    LGSP_JWT_NO_KID,            /* "kid" missing or empty */
    LGSP_JWT_BAD_HEADER,        /* "crit", or kid/typ not a string */
    LGSP_JWT_BAD_CLAIM,         /* a known claim of the wrong type or range */
    LGSP_JWT_ALG_MISMATCH,      /* header "alg" is not the one pinned */
    LGSP_JWT_BAD_KEY,           /* no key, or key unfit for the pinned alg */
    LGSP_JWT_BAD_SIGNATURE,
    LGSP_JWT_CRYPTO_ERROR,      /* libcrypto failed (allocation, provider) */
    LGSP_JWT_EXPIRED,
    LGSP_JWT_NOT_YET_VALID,
    LGSP_JWT_NO_EXP,
    LGSP_JWT_RC_MAX             /* not a result: the count */
} lgsp_jwt_rc_e;


typedef enum {
    LGSP_JWT_ALG_UNKNOWN = 0,   /* also what a failed parse leaves behind */
    LGSP_JWT_ALG_RS256,
    LGSP_JWT_ALG_ES256
} lgsp_jwt_alg_e;


/* same member order as ngx_str_t; data == NULL means "absent" */
typedef struct {
    size_t                  len;
    const unsigned char    *data;
} lgsp_jwt_str_t;


typedef struct {
    lgsp_jwt_alg_e          alg;
    lgsp_jwt_str_t          kid;
    lgsp_jwt_str_t          typ;

    lgsp_jwt_str_t          iss;
    lgsp_jwt_str_t          sub;
    lgsp_jwt_str_t          client_id;
    lgsp_jwt_str_t          org;
    lgsp_jwt_str_t          jti;
    lgsp_jwt_str_t          aud[LGSP_JWT_MAX_AUD];
    unsigned                naud;

    /* the string claim lgsp_jwt_parse_claim() was asked for */
    lgsp_jwt_str_t          claim_name;
    lgsp_jwt_str_t          claim;

    int64_t                 iat;
    int64_t                 nbf;
    int64_t                 exp;
    unsigned                has_iat:1;
    unsigned                has_nbf:1;
    unsigned                has_exp:1;

    /* "header.payload" as received: points into the caller's token */
    const unsigned char    *signing_input;
    size_t                  signing_input_len;

    /* decoded signature: points into the scratch buffer */
    const unsigned char    *sig;
    size_t                  sig_len;
} lgsp_jwt_t;


/*
 * Splits and decodes a compact JWS (not NUL terminated) and reads its header
 * and claims.  Strings in *jwt point into scratch (JSON escapes decoded) and
 * signing_input into token: both must outlive *jwt.  Does not verify the
 * signature nor the times.  On failure jwt->alg is LGSP_JWT_ALG_UNKNOWN, so
 * lgsp_jwt_verify() refuses the token even if the result is ignored.
 */
lgsp_jwt_rc_e lgsp_jwt_parse(lgsp_jwt_t *jwt, const unsigned char *token,
    size_t len, unsigned char *scratch, size_t scratch_len);

/*
 * lgsp_jwt_parse(), also keeping the string claim called name (a trusted
 * issuer's system claim) in jwt->claim; absent, it stays data == NULL, and
 * a value that is not a string is LGSP_JWT_BAD_CLAIM.
 */
lgsp_jwt_rc_e lgsp_jwt_parse_claim(lgsp_jwt_t *jwt,
    const unsigned char *token, size_t len, unsigned char *scratch,
    size_t scratch_len, const char *name, size_t name_len);

/*
 * A key prepared for verifying, once per snapshot: its verify context is
 * initialised (padding, digest) here, not on every request -- which saves
 * a context allocation and OpenSSL 3's provider look-ups per token (about
 * 15 % of an RSA-2048 verify).  One per worker: not for two threads.
 */
typedef struct lgsp_jwt_verifier_s  lgsp_jwt_verifier_t;

lgsp_jwt_verifier_t *lgsp_jwt_verifier_new(EVP_PKEY *key,
    lgsp_jwt_alg_e alg);
void lgsp_jwt_verifier_free(lgsp_jwt_verifier_t *v);

/* lgsp_jwt_verify() with a prepared key; the same refusals, in order. */
lgsp_jwt_rc_e lgsp_jwt_verify_prepared(const lgsp_jwt_t *jwt,
    lgsp_jwt_verifier_t *v);

/*
 * Checks the signature with the key of the token's kid.  pinned_alg comes
 * from the key, never from the token: a header naming another algorithm is
 * refused before any crypto.  Returns LGSP_JWT_OK only on a good signature.
 */
lgsp_jwt_rc_e lgsp_jwt_verify(const lgsp_jwt_t *jwt, EVP_PKEY *key,
    lgsp_jwt_alg_e pinned_alg);

/*
 * OK, LGSP_JWT_EXPIRED when exp + skew < now, LGSP_JWT_NOT_YET_VALID when
 * nbf - skew > now, LGSP_JWT_NO_EXP when the token has no exp.
 * A negative skew counts as 0.
 */
lgsp_jwt_rc_e lgsp_jwt_check_time(const lgsp_jwt_t *jwt, int64_t now,
    int64_t skew);

/* 1 if one of the kept audiences is exactly aud[0..len), else 0 */
int lgsp_jwt_has_aud(const lgsp_jwt_t *jwt, const char *aud, size_t len);

/*
 * Loads a DER SubjectPublicKeyInfo: RSA of 2048 to 8192 bits gives RS256,
 * EC P-256 gives ES256; anything else, or trailing bytes, gives NULL.
 * Meant for snapshot load, not for each request.  Free with EVP_PKEY_free().
 */
EVP_PKEY *lgsp_jwt_key_from_der(const unsigned char *der, size_t len,
    lgsp_jwt_alg_e *alg_out);

/*
 * Turns a JWS ES256 signature (r || s, 32 bytes each) into DER, as
 * libcrypto wants it.  Returns the DER length (at most
 * LGSP_JWT_ES256_DER_MAX).  Exposed for the tests and the fuzzer.
 */
size_t lgsp_jwt_es256_sig_to_der(const unsigned char raw[64],
    unsigned char der[LGSP_JWT_ES256_DER_MAX]);

const char *lgsp_jwt_strerror(lgsp_jwt_rc_e rc);
const char *lgsp_jwt_alg_name(lgsp_jwt_alg_e alg);


#endif /* _LGSP_JWT_H_INCLUDED_ */
