#!/usr/bin/perl
# Tokens, control-plane half (SPEC §5): credentials issued and revoked by
# lgspctl, the token endpoint through nginx in every client-auth shape and
# at both paths, the claims and the signature checked against the JWKS,
# every refusal with its RFC 6749 status and error, throttling, rotation,
# revocation and ES256 — and the secret nowhere but in the issuer's output.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use LGSP::Test;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256_hex);
use HTTP::Tiny;

my $t = LGSP::Test->new(workers => 1);
my $home = $t->home;
my $db = "$home/lgsp.db";
my @secrets;    # every secret issued, hunted for in logs afterwards

sub sql {
    my ($q) = @_;
    my $out = `sqlite3 -batch -noheader '$db' "$q" 2>&1`;
    is($? >> 8, 0, "sqlite3: $q") or diag($out);
    chomp $out;
    return $out;
}

# The registry rows a credential needs.  Until the agency/system verbs
# exist on this branch they are written with SQL; this is the one place
# to switch to `lgspctl agency add` / `lgspctl system add`.
sub add_system {
    my ($code, $ident) = @_;
    sql("INSERT OR IGNORE INTO agencies (code, name, created_at)"
        . " VALUES ('$code', 'Agency $code', 0);"
        . " INSERT OR IGNORE INTO agency_codes (code, agency_id, kind)"
        . " SELECT '$code', id, 'canonical' FROM agencies WHERE code = '$code';"
        . " INSERT INTO systems (ident, agency_id, name, created_at)"
        . " SELECT '$ident', id, 'System $ident', 0 FROM agencies"
        . " WHERE code = '$code'");
}

sub issue {
    my ($system, @env) = @_;
    my $out = $t->ctl_ok('credential', 'issue', $system, @env);
    my ($id, $secret, $extra) = split /\n/, $out;
    ok(defined $secret && !defined $extra, 'issue prints two lines');
    push @secrets, $secret;
    return ($id, $secret);
}

sub b64url_decode {
    my ($s) = @_;
    return undef if $s =~ /[^A-Za-z0-9_-]/;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

sub urlenc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# One token request in one of the client-auth shapes.
sub token_request {
    my ($path, $shape, $id, $secret, %o) = @_;
    my $grant = $o{grant} // 'client_credentials';
    my %h;
    my $body;
    if ($shape eq 'form') {
        $h{'Content-Type'} = 'application/x-www-form-urlencoded';
        $body = 'grant_type=' . urlenc($grant) . '&client_id=' . urlenc($id)
              . '&client_secret=' . urlenc($secret);
    } elsif ($shape eq 'json') {
        $h{'Content-Type'} = 'application/json';
        $body = encode_json({ grant_type => $grant, client_id => $id,
                              client_secret => $secret });
    } elsif ($shape eq 'basic') {
        $h{'Content-Type'} = 'application/x-www-form-urlencoded';
        $h{Authorization} = 'Basic '
            . encode_base64(urlenc($id) . ':' . urlenc($secret), '');
        $body = 'grant_type=' . urlenc($grant);
    } else {
        die "shape $shape";
    }
    %h = (%h, %{ $o{headers} // {} });
    # $o{from}: a client bound to that loopback address (nginx sees it as
    # the peer), else the harness's own from 127.0.0.1
    return $t->http('POST', $path, headers => \%h, content => $body)
        unless $o{from};
    return client_from($o{from})->request('POST', $t->url($path),
                                          { headers => \%h, content => $body });
}

my %clients;
sub client_from {
    my ($addr) = @_;
    return $clients{$addr} //= HTTP::Tiny->new(timeout => 10, keep_alive => 1,
                                               local_address => $addr);
}

sub token_ok {
    my ($path, $shape, $id, $secret, $name, %o) = @_;
    my $r = token_request($path, $shape, $id, $secret, %o);
    is($r->{status}, 200, "$name: 200") or diag($r->{content});
    my $j = eval { decode_json($r->{content}) } // {};
    is($j->{token_type}, 'Bearer', "$name: Bearer");
    is($j->{expires_in}, 600, "$name: expires_in 600");
    is($r->{headers}{'cache-control'}, 'no-store', "$name: no-store");
    return $j->{access_token};
}

# Answer with the RFC 6749 §5.2 error document.
sub refused {
    my ($r, $status, $error, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{content});
    my $j = eval { decode_json($r->{content}) } // {};
    is($j->{error}, $error, "$name: error $error");
    ok(defined $j->{error_description} && length $j->{error_description},
       "$name: error_description");
    ok(!exists $j->{access_token}, "$name: no token");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: JSON");
    return $j;
}

sub decode_jwt {
    my ($tok) = @_;
    my @p = split /\./, $tok // '', -1;
    return unless @p == 3;
    my $h = eval { decode_json(b64url_decode($p[0])) };
    my $c = eval { decode_json(b64url_decode($p[1])) };
    return ($h, $c, "$p[0].$p[1]", b64url_decode($p[2]));
}

sub jwks {
    my $r = $t->http('GET', '/.well-known/jwks.json');
    is($r->{status}, 200, 'JWKS answers');
    return (eval { decode_json($r->{content}) } // { keys => [] }, $r);
}

sub jwk_of {
    my ($set, $kid) = @_;
    my @k = grep { ($_->{kid} // '') eq $kid } @{ $set->{keys} };
    return @k == 1 ? $k[0] : undef;
}

sub der_int {
    my ($b) = @_;
    $b =~ s/^\x00+//;
    $b = "\x00$b" if $b eq '' || ord($b) & 0x80;
    return "\x02" . chr(length $b) . $b;
}

sub spit {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh;
}

# Check the token against the JWKS: the JWK for its kid must be the public
# half of keys/<kid>.pem (compared with openssl's own reading of it) and
# the signature must verify with it.  Returns true when both hold.
my $n_verify = 0;
sub verify_token {
    my ($tok, $set, $name) = @_;
    my ($h, $c, $input, $sig) = decode_jwt($tok);
    my $jwk = jwk_of($set, $h->{kid} // '');
    ok($jwk, "$name: JWKS has kid $h->{kid}") or return 0;
    is($jwk->{alg}, $h->{alg}, "$name: JWK alg is the token's");
    is($jwk->{use}, 'sig', "$name: use sig");
    my $dir = "$home/verify-" . $n_verify++;
    mkdir $dir;
    my $pub = "$dir/pub.pem";
    system("openssl pkey -in '$home/keys/$h->{kid}.pem' -pubout -out '$pub' 2>/dev/null") == 0
        or return fail("$name: export public key");
    my $sigder = $sig;
    if ($h->{alg} eq 'RS256') {
        is($jwk->{kty}, 'RSA', "$name: kty RSA");
        my $mod = `openssl rsa -pubin -in '$pub' -modulus -noout`;
        $mod =~ s/^Modulus=//;
        chomp $mod;
        is(uc unpack('H*', b64url_decode($jwk->{n})), uc $mod, "$name: JWK n is the key's modulus");
        my $text = `openssl rsa -pubin -in '$pub' -text -noout`;
        my ($e) = $text =~ /Exponent: (\d+)/;
        is(hex(unpack('H*', b64url_decode($jwk->{e}))), $e, "$name: JWK e");
    } elsif ($h->{alg} eq 'ES256') {
        is($jwk->{kty}, 'EC', "$name: kty EC");
        is($jwk->{crv}, 'P-256', "$name: crv P-256");
        my $text = `openssl ec -pubin -in '$pub' -text -noout 2>/dev/null`;
        my ($hex) = $text =~ /pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
        $hex =~ s/[\s:]//g;
        my ($x, $y) = (b64url_decode($jwk->{x}), b64url_decode($jwk->{y}));
        is(length $x, 32, "$name: x is 32 bytes");
        is(length $y, 32, "$name: y is 32 bytes");
        is(unpack('H*', "\x04$x$y"), $hex, "$name: JWK x, y are the key's point");
        is(length $sig, 64, "$name: JOSE signature is r||s (64 bytes)");
        my $seq = der_int(substr($sig, 0, 32)) . der_int(substr($sig, 32));
        $sigder = "\x30" . chr(length $seq) . $seq;
    }
    spit("$dir/in", $input);
    spit("$dir/sig", $sigder);
    my $out = `openssl dgst -sha256 -verify '$pub' -signature '$dir/sig' '$dir/in' 2>&1`;
    return $out =~ /^Verified OK/;
}

sub active_kid {
    my $keys = decode_json($t->ctl_ok('key', 'list', '--json'));
    my @a = grep { $_->{state} eq 'active' } @$keys;
    is(scalar @a, 1, 'one active key');
    return $a[0]{kid};
}

# ---- the registry ---------------------------------------------------------

add_system('H26.107', 'tphn-cons');
add_system('H26.108', 'tphn-other');
add_system('H26.109', 'tphn-closed');

my ($id, $secret) = issue('tphn-cons');
like($id, qr/^tphn-cons-p-[0-9a-f]{8}$/, 'client_id names system and env');
like($secret, qr/^[A-Za-z0-9_-]{43}$/, 'secret: 32 bytes base64url');
is(length(b64url_decode($secret)), 32, 'secret decodes to 32 bytes');

my ($sid, $ssecret) = issue('tphn-cons', '--env', 'sandbox');
like($sid, qr/^tphn-cons-s-[0-9a-f]{8}$/, 'sandbox client_id');
isnt($ssecret, $secret, 'secrets differ');

# --json: the object, secret included, this once
my $jo = decode_json($t->ctl_ok('credential', 'issue', 'tphn-other', '--json'));
like($jo->{client_id}, qr/^tphn-other-p-/, '--json client_id');
like($jo->{client_secret}, qr/^[A-Za-z0-9_-]{43}$/, '--json client_secret');
push @secrets, $jo->{client_secret};

# only the keyed hash is stored: HMAC-SHA-256(pepper, secret)
my $pepper = $t->slurp("$home/keys/pepper");
is(length $pepper, 32, 'pepper is 32 bytes');
is(sql("SELECT lower(hex(secret_hash)) FROM credentials WHERE client_id = '$id'"),
   hmac_sha256_hex($secret, $pepper), 'stored hash is HMAC-SHA-256(pepper, secret)');
is(sql("SELECT count(*) FROM credentials WHERE instr(CAST(secret_hash AS TEXT), '$secret') > 0"),
   0, 'the secret itself is not stored');

# refusals of the CLI
my ($rc, $out, $err) = $t->ctl('credential', 'issue', 'nosuch');
is($rc, 1, 'issue for an unknown system: exit 1');
like($err, qr/^lgspctl: credential issue: no system "nosuch"/, 'and says why');
($rc, undef, $err) = $t->ctl('credential', 'issue', 'tphn-cons', '--env', 'staging');
is($rc, 2, 'bad --env: exit 2');
($rc) = $t->ctl('credential', 'issue');
is($rc, 2, 'issue without SYSTEM: exit 2');
sql("UPDATE systems SET suspended = 1 WHERE ident = 'tphn-other'");
($rc, $out, $err) = $t->ctl('credential', 'issue', 'tphn-other');
is($rc, 1, 'issue for a suspended system: exit 1');
like($err, qr/suspended/, 'and says so');
is($out, '', 'and prints no secret');
sql("UPDATE systems SET suspended = 0 WHERE ident = 'tphn-other'");
sql("UPDATE agencies SET state = 'closed' WHERE code = 'H26.109'");
($rc, undef, $err) = $t->ctl('credential', 'issue', 'tphn-closed');
is($rc, 1, 'issue for a system of a closed agency: exit 1');
like($err, qr/closed/, 'and says so');

# ---- tokens in every shape, at both paths ----------------------------------

my $issuer = 'https://lgsp.hanoi.gov.vn';
my $kid1 = active_kid();
my ($set) = jwks();
my %jti;
for my $path ('/oauth/token', '/token') {
    for my $shape (qw(form json basic)) {
        my $name = "$shape at $path";
        my $tok = token_ok($path, $shape, $id, $secret, $name);
        my ($h, $c) = decode_jwt($tok);
        is($h->{alg}, 'RS256', "$name: alg RS256");
        is($h->{kid}, $kid1, "$name: kid is the active key");
        is($c->{iss}, $issuer, "$name: iss");
        is($c->{sub}, 'tphn-cons', "$name: sub is the system");
        is($c->{client_id}, $id, "$name: client_id");
        is($c->{org}, 'H26.107', "$name: org is the agency's code");
        is($c->{aud}, 'lgsp:production', "$name: aud");
        ok(abs($c->{iat} - time) < 300, "$name: iat is now");
        is($c->{nbf}, $c->{iat}, "$name: nbf = iat");
        is($c->{exp}, $c->{iat} + 600, "$name: exp = iat + 600");
        like($c->{jti}, qr/^[0-9a-f]{32}$/, "$name: jti 16 random bytes");
        ok(!$jti{ $c->{jti} }++, "$name: jti unique");
        ok(verify_token($tok, $set, $name), "$name: signature verifies against the JWKS");
    }
}

# a signature check that can fail: one flipped bit
{
    my $tok = token_ok('/oauth/token', 'form', $id, $secret, 'for tamper');
    my @p = split /\./, $tok;
    my $sig = b64url_decode($p[2]);
    substr($sig, 10, 1) = chr(ord(substr($sig, 10, 1)) ^ 1);
    (my $b = encode_base64($sig, '')) =~ tr{+/}{-_};
    $b =~ s/=+$//;
    ok(!verify_token("$p[0].$p[1].$b", $set, 'tampered'), 'a changed signature does not verify');
}

my $stok = token_ok('/token', 'json', $sid, $ssecret, 'sandbox credential');
is((decode_jwt($stok))[1]{aud}, 'lgsp:sandbox', 'sandbox credential: aud lgsp:sandbox');

# Basic with characters that need percent-encoding in the id: unknown, but
# decoded and refused as a client, not as a malformed request
my $r = token_request('/oauth/token', 'basic', 'a:b c%', 'x');
refused($r, 401, 'invalid_client', 'percent-encoded unknown id');

# ---- refusals ---------------------------------------------------------------

# another first character: 'x' . substr(...) was the secret itself one
# time in 64, when the secret began with 'x'
$r = token_request('/oauth/token', 'form', $id,
                   ($secret =~ /^x/ ? 'y' : 'x') . substr($secret, 1));
refused($r, 401, 'invalid_client', 'wrong secret (form)');
ok($r->{headers}{'www-authenticate'}, 'a 401 names an auth scheme');

$r = token_request('/token', 'basic', $id, 'wrong');
refused($r, 401, 'invalid_client', 'wrong secret (Basic)');
is($r->{headers}{'www-authenticate'}, 'Basic realm="lgsp"', 'Basic: WWW-Authenticate');

$r = token_request('/oauth/token', 'json', 'tphn-cons-p-00000000', $secret);
refused($r, 401, 'invalid_client', 'unknown client');

$r = token_request('/oauth/token', 'form', $id, '');
refused($r, 400, 'invalid_request', 'client_id without secret');

my ($rid, $rsecret) = issue('tphn-cons');
token_ok('/oauth/token', 'form', $rid, $rsecret, 'before revoke');
is($t->ctl_ok('credential', 'revoke', $rid), "$rid revoked", 'credential revoke');
$r = token_request('/oauth/token', 'form', $rid, $rsecret);
refused($r, 401, 'invalid_client', 'revoked credential');
($rc, undef, $err) = $t->ctl('credential', 'revoke', $rid);
is($rc, 1, 'revoke again: exit 1 (final)');
like($err, qr/already revoked/, 'and says so');
($rc, undef, $err) = $t->ctl('credential', 'revoke', 'nosuch-p-00000000');
is($rc, 1, 'revoke unknown: exit 1');

my $oid = $jo->{client_id};
token_ok('/oauth/token', 'form', $oid, $jo->{client_secret}, 'other system');
sql("UPDATE systems SET suspended = 1 WHERE ident = 'tphn-other'");
$r = token_request('/oauth/token', 'form', $oid, $jo->{client_secret});
refused($r, 400, 'unauthorized_client', 'suspended system');
like(decode_json($r->{content})->{error_description}, qr/suspended/, 'says suspended');
$r = token_request('/oauth/token', 'form', $oid, 'wrong');
refused($r, 401, 'invalid_client', 'suspended system, wrong secret: no state revealed');
sql("UPDATE systems SET suspended = 0 WHERE ident = 'tphn-other'");
token_ok('/oauth/token', 'form', $oid, $jo->{client_secret}, 'resumed system');
sql("UPDATE agencies SET state = 'closed' WHERE code = 'H26.108'");
$r = token_request('/oauth/token', 'basic', $oid, $jo->{client_secret});
refused($r, 400, 'unauthorized_client', 'closed agency');

$r = token_request('/oauth/token', 'form', $id, $secret, grant => 'password');
refused($r, 400, 'unsupported_grant_type', 'grant_type password');
$r = token_request('/oauth/token', 'json', $id, $secret, grant => 'authorization_code');
refused($r, 400, 'unsupported_grant_type', 'grant_type authorization_code (JSON)');

my $form = { 'Content-Type' => 'application/x-www-form-urlencoded' };
$r = $t->http('POST', '/oauth/token', headers => $form,
              content => "client_id=$id&client_secret=$secret");
refused($r, 400, 'invalid_request', 'missing grant_type');
$r = $t->http('POST', '/oauth/token', headers => $form,
              content => 'grant_type=client_credentials');
refused($r, 401, 'invalid_client', 'no client authentication');
$r = $t->http('POST', '/oauth/token', headers => $form,
              content => "grant_type=client_credentials&client_secret=$secret");
refused($r, 400, 'invalid_request', 'secret without client_id');
$r = $t->http('POST', '/token', headers => $form,
              content => "grant_type=client_credentials&client_id=$id&client_id=$id&client_secret=$secret");
refused($r, 400, 'invalid_request', 'parameter twice');

$r = token_request('/oauth/token', 'basic', $id, $secret);
is($r->{status}, 200, 'Basic alone is fine');
$r = $t->http('POST', '/oauth/token', headers => {
    %$form, Authorization => 'Basic ' . encode_base64("$id:$secret", '') },
    content => "grant_type=client_credentials&client_id=$id&client_secret=$secret");
refused($r, 400, 'invalid_request', 'two auth methods (Basic + form)');
$r = $t->http('POST', '/oauth/token', headers => {
    'Content-Type' => 'application/json',
    Authorization => 'Basic ' . encode_base64("$id:$secret", '') },
    content => encode_json({ grant_type => 'client_credentials', client_secret => $secret }));
refused($r, 400, 'invalid_request', 'two auth methods (Basic + JSON)');

$r = $t->http('POST', '/oauth/token', headers => { 'Content-Type' => 'application/json' },
              content => '{"grant_type":"client_credentials","client_id":');
refused($r, 400, 'invalid_request', 'malformed JSON');
$r = $t->http('POST', '/oauth/token', headers => { 'Content-Type' => 'application/json' },
              content => encode_json({ grant_type => 'client_credentials',
                                       client_id => $id, client_secret => [$secret] }));
refused($r, 400, 'invalid_request', 'JSON secret not a string');
$r = $t->http('POST', '/oauth/token', headers => { %$form, Authorization => 'Basic %%%not-base64' },
              content => 'grant_type=client_credentials');
refused($r, 400, 'invalid_request', 'Basic with bad base64');
$r = $t->http('POST', '/oauth/token', headers => { %$form,
              Authorization => 'Basic ' . encode_base64('no-colon', '') },
              content => 'grant_type=client_credentials');
refused($r, 400, 'invalid_request', 'Basic without a colon');
$r = $t->http('POST', '/oauth/token', headers => { %$form, Authorization => 'Bearer abc' },
              content => 'grant_type=client_credentials');
refused($r, 400, 'invalid_request', 'another auth scheme');
$r = $t->http('POST', '/oauth/token', headers => { 'Content-Type' => 'text/plain' },
              content => "grant_type=client_credentials&client_id=$id&client_secret=$secret");
refused($r, 400, 'invalid_request', 'unsupported content type');
$r = $t->http('GET', "/oauth/token?grant_type=client_credentials&client_id=$id&client_secret=$secret");
is($r->{status}, 405, 'GET /oauth/token: 405');

# ---- rotation, revocation, ES256 ---------------------------------------------

my $old_tok = token_ok('/oauth/token', 'form', $id, $secret, 'before rotate');
my $kid2 = $t->ctl_ok('key', 'rotate');
like($kid2, qr/^[0-9a-f]{16}$/, 'rotate prints the new kid');
isnt($kid2, $kid1, 'a new kid');
is(active_kid(), $kid2, 'the new key is active');
my $keys = decode_json($t->ctl_ok('key', 'list', '--json'));
my ($k1) = grep { $_->{kid} eq $kid1 } @$keys;
is($k1->{state}, 'retiring', 'the old key is retiring');
ok($k1->{in_jwks}, 'and still published');
my $tok2 = token_ok('/oauth/token', 'basic', $id, $secret, 'after rotate');
is((decode_jwt($tok2))[0]{kid}, $kid2, 'new tokens carry the new kid');
($set, $r) = jwks();
like($r->{headers}{'cache-control'}, qr/max-age=60/, 'JWKS: max-age=60');
ok(jwk_of($set, $kid1) && jwk_of($set, $kid2), 'JWKS lists both keys');
ok(verify_token($old_tok, $set, 'old token after rotate'), 'a token of the old key still verifies');
ok(verify_token($tok2, $set, 'new token'), 'the new token verifies');
# verify_until = now + token_lifetime (600) + token_skew (60)
my $until = sql("SELECT verify_until - retiring_at FROM signing_keys WHERE kid = '$kid1'");
is($until, 660, 'old key verifies until lifetime + skew');

($rc, undef, $err) = $t->ctl('key', 'revoke', $kid2, '--reason', 'x');
is($rc, 1, 'revoking the active key is refused');
like($err, qr/rotate/, 'and says to rotate first');
($rc) = $t->ctl('key', 'revoke', $kid1);
is($rc, 2, 'revoke without --reason: exit 2');
is($t->ctl_ok('key', 'revoke', $kid1, '--reason', 'compromised in test'), "$kid1 revoked",
   'key revoke');
($set) = jwks();
ok(!jwk_of($set, $kid1), 'JWKS drops the revoked key');
ok(jwk_of($set, $kid2), 'and keeps the active one');
($rc, undef, $err) = $t->ctl('key', 'revoke', $kid1, '--reason', 'again');
is($rc, 1, 'revoke again: exit 1 (final)');
($rc) = $t->ctl('key', 'revoke', 'ffffffffffffffff', '--reason', 'x');
is($rc, 1, 'revoke unknown kid: exit 1');
($rc) = $t->ctl('key', 'rotate', '--alg', 'HS256');
is($rc, 2, 'rotate --alg HS256: exit 2');

my $kid3 = $t->ctl_ok('key', 'rotate', '--alg', 'ES256');
my $etok = token_ok('/token', 'json', $id, $secret, 'ES256');
my ($eh, $ec) = decode_jwt($etok);
is($eh->{alg}, 'ES256', 'ES256 token');
is($eh->{kid}, $kid3, 'with the ES256 kid');
is($ec->{sub}, 'tphn-cons', 'ES256 claims');
($set) = jwks();
ok(jwk_of($set, $kid2) && jwk_of($set, $kid3), 'JWKS: the RS256 key retiring and the ES256 key');
ok(verify_token($etok, $set, 'ES256'), 'ES256 signature verifies against the JWKS');
ok(verify_token($tok2, $set, 'RS256 after ES256 rotate'), 'the RS256 token still verifies');
is((stat "$home/keys/$kid3.pem")[2] & 0777, 0600, 'private key file 0600');

# change log: who did what, never the hash or the secret
my $log = sql("SELECT object || ' ' || action || ' ' || ifnull(operator, '') FROM change_log ORDER BY id");
like($log, qr/credential:\Q$id\E issue test-operator/, 'change log: issue');
like($log, qr/credential:\Q$rid\E revoke/, 'change log: revoke');
like($log, qr/key:\Q$kid1\E retire/, 'change log: key retired');
like($log, qr/key:\Q$kid2\E rotate/, 'change log: key rotate');
like($log, qr/key:\Q$kid1\E revoke/, 'change log: key revoke');
my $dump = sql("SELECT ifnull(before, '') || ifnull(after, '') FROM change_log");
unlike($dump, qr/secret_hash/, 'change log carries no secret_hash');
my $hash_hex = sql("SELECT lower(hex(secret_hash)) FROM credentials WHERE client_id = '$id'");
unlike(lc $dump, qr/\Q$hash_hex\E/, 'nor the hash bytes');

my $list = decode_json($t->ctl_ok('credential', 'list', '--json'));
is(scalar @$list, 4, 'credential list: every credential');
my %by = map { $_->{client_id} => $_ } @$list;
is($by{$rid}{state}, 'revoked', 'list: revoked state');
is($by{$sid}{env}, 'sandbox', 'list: env');
ok(!grep({ exists $_->{secret_hash} || exists $_->{client_secret} } @$list), 'list: no secret fields');
$list = decode_json($t->ctl_ok('credential', 'list', '--system', 'tphn-other', '--json'));
is(scalar @$list, 1, 'list --system filters');
my $human = $t->ctl_ok('credential', 'list');
like($human, qr/\Q$id\E/, 'human list shows the client id');

# ---- throttling -----------------------------------------------------------------
# The rule (cp_throttle.h, docs/integration-guide.md): ten wrong secrets for
# one client from one address refuse that client from that address only.

my ($tid, $tsecret) = issue('tphn-cons');
for my $i (1 .. 10) {
    $r = token_request('/oauth/token', 'form', $tid, "guess-$i", from => '127.0.0.3');
    is($r->{status}, 401, "a stranger's wrong secret $i: 401");
}
$r = token_request('/oauth/token', 'form', $tid, $tsecret, from => '127.0.0.3');
refused($r, 429, 'slow_down', "the stranger's 11th attempt, even with the right secret");
my $after = $r->{headers}{'retry-after'} // 0;
ok($after >= 1 && $after <= 60, "Retry-After $after within the window");
token_ok('/oauth/token', 'form', $tid, $tsecret,
         'the owner, from its own address, is not locked out', from => '127.0.0.2');
token_ok('/oauth/token', 'basic', $tid, $tsecret, 'nor from the harness address');
token_ok('/oauth/token', 'form', $id, $secret, 'another client from the stranger address',
         from => '127.0.0.3');

# Guessing one client from many addresses: past 100 wrong secrets in a
# minute, one more wrong secret refuses its address for that client; an
# address that has not failed (the owner's) still gets its token.
my ($did, $dsecret) = issue('tphn-cons');
my $wrong = 0;
for my $i (1 .. 20) {
    for my $k (1 .. 5) {
        $r = token_request('/oauth/token', 'form', $did, "g-$i-$k", from => "127.0.1.$i");
        $wrong++ if $r->{status} == 401;
    }
}
is($wrong, 100, '100 wrong secrets from 20 addresses: each a 401');
$r = token_request('/oauth/token', 'form', $did, 'g-fresh', from => '127.0.1.21');
is($r->{status}, 401, 'past the ceiling, a fresh address gets one answer');
$r = token_request('/oauth/token', 'form', $did, $dsecret, from => '127.0.1.21');
refused($r, 429, 'slow_down', 'and after one wrong secret, no second');
$r = token_request('/oauth/token', 'form', $did, $dsecret, from => '127.0.1.3');
refused($r, 429, 'slow_down', 'an address with five wrong secrets is refused too');
token_ok('/oauth/token', 'form', $did, $dsecret, 'the owner still gets its token',
         from => '127.0.0.2');
token_ok('/oauth/token', 'form', $id, $secret, 'other clients from those addresses keep their room',
         from => '127.0.1.3');

# per address: unknown ids from one address, until it is refused (100 per
# minute, and this file has already spent some); nginx sets X-Real-IP, so
# a client cannot claim to be someone else
my $n = 0;
while ($n < 150) {
    $r = token_request('/oauth/token', 'form', "nobody-p-$n", 'x',
                       headers => { 'X-Real-IP' => "10.0.0." . ($n % 250),
                                    'X-Forwarded-For' => "10.0.0." . ($n % 250) });
    last if $r->{status} == 429;
    $n++;
}
is($r->{status}, 429, "address throttled after $n more failures");
ok($n <= 100, 'within the per-address limit');
$r = token_request('/oauth/token', 'form', $id, $secret);
refused($r, 429, 'slow_down', 'a good client from a throttled address');

# ---- the secret nowhere it should not be -------------------------------------------

my $lgspd_log = $t->slurp("$home/lgspd.out");
like($lgspd_log, qr/token refused: invalid_client for client \Q$tid\E .* from 127\.0\.0\.3/,
     'failures logged with client id and address');
like($lgspd_log, qr/token: client \Q$did\E: 100 wrong secrets within 60 s/,
     'guessing from many addresses is logged once');
like($lgspd_log, qr/token issued: client \Q$id\E system tphn-cons/, 'issues logged');
unlike($lgspd_log, qr/10\.0\.0\./, 'a client-sent X-Real-IP or X-Forwarded-For is not believed');
my $nginx_log = $t->slurp($t->error_log);
my $all_out = $t->slurp("$home/ctl.stdout") . $t->slurp("$home/ctl.stderr");
my @bad;
for my $s (@secrets) {
    push @bad, 'lgspd log' if index($lgspd_log, $s) >= 0;
    push @bad, 'nginx log' if index($nginx_log, $s) >= 0;
    push @bad, 'change log' if index($dump, $s) >= 0;
    push @bad, 'credential list' if index($human, $s) >= 0;
}
is("@bad", '', 'no secret in lgspd log, nginx log, change log or listings');

$t->stop;
done_testing;
