#ifndef LGSPD_TOKEN_H
#define LGSPD_TOKEN_H

#include "http.h"

/* POST /oauth/token and /token: OAuth 2.0 client credentials (SPEC §5). */
void lgspd_token_route(const lgspd_request_t *rq, lgspd_reply_t *rp);

/* GET /.well-known/jwks.json: the platform keys tokens may carry. */
void lgspd_jwks_route(const lgspd_request_t *rq, lgspd_reply_t *rp);

#endif /* LGSPD_TOKEN_H */
