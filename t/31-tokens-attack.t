#!/usr/bin/perl
# Tokens on the data path (SPEC §4, §5): the attack matrix, one case per
# test, each with the status and error of SPEC §4 (the cases t/50 already
# covers are not repeated: no header, Basic, garbage, expired, nbf, wrong
# iss/aud, unknown kid, bad signature, org of another agency); revocation
# of a credential and of a key defeating the verified-token cache within
# 1 s; the happy paths of RS256 and ES256, every client-auth shape through
# the gateway, rotation; and a trusted external issuer whose JWKS a real
# HTTP server serves (refreshed, last good set kept when it fails) or a
# file holds, with a system claim other than sub.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use MIME::Base64 qw(encode_base64 encode_base64url decode_base64url);
use Test::More;
use Time::HiRes qw(time sleep);
use LGSP::Test;
use LGSP::Demo;
use LGSP::Jose;

my $t = LGSP::Test->new(workers => 2, start => 0);
my $home = $t->home;
# URL JWKS refetched every second here, so refresh and failure are seen
$t->lgspd_conf(jwks_refresh_s => 1);
$t->start_lgspd;
$t->start_nginx;
$t->wait_ready or die 'not ready';

my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');
my $stok = $d->token('sandbox');
ok($t->wait_until(sub { call('/api/citizen/v1/ping', $tok)->{status} == 200 }, 3),
   'the registry reaches the data path');

sub call {
    my ($path, $token, %h) = @_;
    $h{Authorization} = "Bearer $token" if defined $token;
    return $t->http('GET', $path, headers => \%h);
}

sub refused {
    my ($r, $status, $error, $name) = @_;
    my $j = eval { decode_json($r->{content}) } // {};
    ok($r->{status} == $status && ($j->{error} // '') eq $error, "$name: $status $error")
        or diag("got $r->{status} $r->{content}");
}

sub slurp { my $f = shift; open my $fh, '<', $f or return ''; local $/; <$fh> }
sub spew { my ($f, $s) = @_; open my $fh, '>', "$f.tmp" or die; print $fh $s; close $fh;
           rename "$f.tmp", $f or die }

# header and claims as given, signed with an RSA or EC key file
sub sign { LGSP::Jose::sign($home, @_) }

my $c = LGSP::Demo::claims($tok);
my %base = %$c;
my $kid1 = (glob("$home/keys/*.pem"))[0] =~ s{.*/|\.pem$}{}gr;
is(decode_json(decode_base64url((split /\./, $tok)[0]))->{kid}, $kid1, 'tokens carry the active kid');

# --- the attack matrix (cases t/50 does not cover) ----------------------
sub hdr64 { encode_base64url(encode_json($_[0])) }
sub cl64 { encode_base64url(encode_json($_[0])) }

refused($t->http('GET', '/api/citizen/v1/x', headers => { Authorization => "Token $tok" }),
        401, 'missing_token', 'a valid token under another scheme');
refused(call('/api/citizen/v1/x', hdr64({ alg => 'none', typ => 'JWT', kid => $kid1 }) . '.'
             . cl64(\%base) . '.'), 401, 'invalid_token', 'alg none, empty signature');
refused(call('/api/citizen/v1/x', hdr64({ alg => 'none', kid => $kid1 }) . '.' . cl64(\%base)
             . '.' . (split /\./, $tok)[2]), 401, 'invalid_token', 'alg none, a real signature');

# HS256 keyed with the platform's RSA public key (PEM): libjwt issue #200
my $pem = `openssl pkey -in $home/keys/$kid1.pem -pubout`;
{
    use Digest::SHA qw(hmac_sha256);
    my $in = hdr64({ alg => 'HS256', typ => 'JWT', kid => $kid1 }) . '.' . cl64(\%base);
    refused(call('/api/citizen/v1/x', "$in." . encode_base64url(hmac_sha256($in, $pem))),
            401, 'invalid_token', 'HS256 signed with the RSA public key PEM');
    my $in2 = hdr64({ alg => 'RS256', typ => 'JWT', kid => $kid1 }) . '.' . cl64(\%base);
    refused(call('/api/citizen/v1/x', "$in2." . encode_base64url(hmac_sha256($in2, $pem))),
            401, 'invalid_token', 'HMAC signature under an RS256 header');
}

# payload changed after signing: sub of another system, signature kept
{
    my ($h, $p, $s) = split /\./, $tok;
    my %evil = (%base, sub => 'prov-sys');
    refused(call('/api/citizen/v1/x', "$h." . cl64(\%evil) . ".$s"), 401, 'invalid_token',
            'payload changed after signing');
    my %later = (%base, exp => $base{exp} + 86400);
    refused(call('/api/citizen/v1/x', "$h." . cl64(\%later) . ".$s"), 401, 'invalid_token',
            'exp extended after signing');
}

refused(call('/api/citizen/v1/x', $d->mint({ %base, aud => 'lgsp:sandbox' })), 401,
        'invalid_token', 'aud of the other environment (minted)');
refused(call('/api/citizen/v1/x', $d->mint({ %base, aud => ['lgsp:sandbox', 'x'] })), 401,
        'invalid_token', 'aud array without this environment');
is(call('/api/citizen/v1/x', $d->mint({ %base, aud => ['x', 'lgsp:production'] }))->{status},
   200, 'aud array naming this environment is accepted');
{
    my %nosub = %base;
    delete $nosub{sub};
    refused(call('/api/citizen/v1/x', $d->mint(\%nosub)), 401, 'invalid_token', 'missing sub');
    my %noexp = %base;
    delete $noexp{exp};
    refused(call('/api/citizen/v1/x', $d->mint(\%noexp)), 401, 'invalid_token', 'missing exp');
    refused(call('/api/citizen/v1/x', $d->mint({ %base, sub => 42 })), 401, 'invalid_token',
            'sub not a string');
}
# org of another agency is in t/50; its sibling: an org that is no agency
refused(call('/api/citizen/v1/x', $d->mint({ %base, org => 'X99.999' })), 403,
        'identity_rejected', 'org that is no agency');
refused(call('/api/citizen/v1/x', $d->mint({ %base, client_id => 'nosuch-p-00000000' })), 401,
        'invalid_token', 'client_id of no credential');
refused(call('/api/citizen/v1/x', $d->mint({ %base, client_id => $d->{cred}{sandbox}{client_id} })),
        401, 'invalid_token', "client_id of the sandbox credential in production");

# over 8 KB, and correctly signed: refused for its size alone (it reaches
# the module through the shipped 16k header buffers)
{
    my $big = $d->mint({ %base, pad => 'p' x 8200 });
    ok(length($big) > 8192 && length($big) < 12000, 'a signed token of ' . length($big) . ' bytes');
    my $r = call('/api/citizen/v1/x', $big);
    refused($r, 401, 'invalid_token', 'signed token over 8 KB');
    like($r->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/,
         'over 8 KB: answered by the module, not nginx');
    my $just = $d->mint({ %base, pad => 'p' x 5000 });
    is(call('/api/citizen/v1/x', $just)->{status}, 200, 'a token under 8 KB is accepted');
}

# a cached token replayed on the other environment's path
{
    is(call('/api/citizen/v1/x', $tok)->{status}, 200, 'production token, first');
    is(call('/api/citizen/v1/x', $tok)->{status}, 200, 'production token, cached');
    refused(call('/sandbox/api/citizen/v1/x', $tok), 401, 'invalid_token',
            'cached production token on the sandbox path');
    refused(call('/sandbox/api/citizen/v1/x', $tok), 401, 'invalid_token',
            'and again (no cache entry made for it)');
    is(call('/api/citizen/v1/x', $tok)->{status}, 200, 'still good in production');
    is(call('/sandbox/api/citizen/v1/x', $stok)->{status}, 200, 'sandbox token on its path');
    refused(call('/api/citizen/v1/x', $stok), 401, 'invalid_token',
            'cached sandbox token on the production path');
}

# --- every client-auth shape, end to end through the gateway ------------
{
    my $cr = $d->{cred}{production};
    my %shape = (
        form => [{ 'Content-Type' => 'application/x-www-form-urlencoded' },
                 "grant_type=client_credentials&client_id=$cr->{client_id}&client_secret=$cr->{client_secret}"],
        json => [{ 'Content-Type' => 'application/json' },
                 encode_json({ grant_type => 'client_credentials', client_id => $cr->{client_id},
                               client_secret => $cr->{client_secret} })],
        basic => [{ 'Content-Type' => 'application/x-www-form-urlencoded',
                    Authorization => 'Basic ' . encode_base64("$cr->{client_id}:$cr->{client_secret}", '') },
                  'grant_type=client_credentials'],
    );
    for my $path ('/oauth/token', '/token') {
        for my $s (sort keys %shape) {
            my $r = $t->http('POST', $path, headers => $shape{$s}[0], content => $shape{$s}[1]);
            my $at = eval { decode_json($r->{content})->{access_token} };
            ok($r->{status} == 200 && $at, "$s at $path: token") or diag($r->{content});
            my $u = call('/api/citizen/v1/x', $at);
            is($u->{status}, 200, "$s at $path: the gateway accepts it");
            is(eval { decode_json($u->{content})->{headers}{'x-lgsp-consumer-system'} }, 'cons-sys',
               "$s at $path: the provider sees the system");
        }
    }
}

# --- revoked credential: its tokens die within 1 s, cache or not ---------
{
    $t->ctl_ok('system', 'add', 'rev-sys', '--agency', 'H26.108', '--name', 'Thu hoi');
    $t->ctl_ok('grant', 'add', '--consumer', 'rev-sys', '--service', 'citizen/v1', '--env', 'production');
    my ($rid, $rsec) = split /\n/, $t->ctl_ok('credential', 'issue', 'rev-sys', '--env', 'production');
    $d->{cred}{rev} = { client_id => $rid, client_secret => $rsec };
    my $rt = $d->token('rev');
    is(call('/api/citizen/v1/x', $rt)->{status}, 200, 'credential to revoke: accepted') for 1 .. 2;
    my ($rc) = $t->ctl('credential', 'revoke', $rid);
    is($rc, 0, 'credential revoke');
    my $t0 = time;
    my $dead = $t->wait_until(sub { call('/api/citizen/v1/x', $rt)->{status} == 401 }, 5);
    my $took = time - $t0;
    ok($dead && $took <= 1.0, sprintf('revoked credential refused within 1 s (%.3f s)', $took));
    refused(call('/api/citizen/v1/x', $rt), 401, 'invalid_token', 'token of a revoked credential');
    is(call('/api/citizen/v1/x', $tok)->{status}, 200, "another credential's token is untouched");
}

# --- rotation to ES256; old tokens live on; then the old key revoked -----
my $es_kid = $t->ctl_ok('key', 'rotate', '--alg', 'ES256');
like($es_kid, qr/^\S+$/, 'rotate --alg ES256 prints the new kid');
isnt($es_kid, $kid1, 'a new kid');
my $etok = $d->token('production');
my $eh = decode_json(decode_base64url((split /\./, $etok)[0]));
is($eh->{alg}, 'ES256', 'new tokens are ES256');
is($eh->{kid}, $es_kid, 'new tokens carry the new kid');
is(call('/api/citizen/v1/x', $etok)->{status}, 200, 'ES256 happy path');
is(call('/api/citizen/v1/x', $etok)->{status}, 200, 'ES256 happy path, cached');
is(call('/sandbox/api/citizen/v1/x', $d->token('sandbox'))->{status}, 200, 'ES256 in sandbox');
is(call('/api/citizen/v1/x', $tok)->{status}, 200, 'an RS256 token of the old key is still accepted');
{
    my ($h, $p, $s) = split /\./, $etok;
    (my $bad = $s) =~ tr/A-Za-z/B-ZAb-za/;
    refused(call('/api/citizen/v1/x', "$h.$p.$bad"), 401, 'invalid_token', 'ES256: bad signature');
    my %evil = (%{ LGSP::Demo::claims($etok) }, sub => 'prov-sys');
    refused(call('/api/citizen/v1/x', "$h." . cl64(\%evil) . ".$s"), 401, 'invalid_token',
            'ES256: payload changed after signing');
    # the old RSA key presented for the EC kid: the key pins the algorithm
    my $rs_as_es = sign({ alg => 'RS256', typ => 'JWT', kid => $es_kid }, \%base,
                        "$home/keys/$kid1.pem");
    refused(call('/api/citizen/v1/x', $rs_as_es), 401, 'invalid_token', 'RS256 token under the ES256 kid');
}
{
    my ($rc, undef, $err) = $t->ctl('key', 'revoke', $es_kid, '--reason', 'x');
    is($rc, 1, 'the active key cannot be revoked');
    ($rc) = $t->ctl('key', 'revoke', $kid1, '--reason', 'compromised in test');
    is($rc, 0, 'key revoke of the old kid');
    my $t0 = time;
    my $dead = $t->wait_until(sub { call('/api/citizen/v1/x', $tok)->{status} == 401 }, 5);
    my $took = time - $t0;
    ok($dead && $took <= 1.0, sprintf('tokens of a revoked key refused within 1 s (%.3f s)', $took));
    refused(call('/api/citizen/v1/x', $tok), 401, 'invalid_token', 'token of a revoked key');
    is(call('/api/citizen/v1/x', $etok)->{status}, 200, 'tokens of the new key are untouched');
}

# --- a trusted external issuer -------------------------------------------
# its keys, made here; its JWKS served by a real HTTP server whose answer
# the test steers through files (a mode and the document)
system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $home/ext1.pem 2>/dev/null") == 0
    or die;
system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $home/ext2.pem 2>/dev/null") == 0
    or die;

sub rsa_jwk { LGSP::Jose::rsa_jwk(@_) }
sub ec_jwk { LGSP::Jose::ec_jwk(@_) }

spew("$home/jwks.json", encode_json({ keys => [rsa_jwk("$home/ext1.pem", 'ext-1')] }));
spew("$home/jwks.mode", 'ok');
my $sso = $t->upstream(sub {
    my ($req) = @_;
    my $mode = slurp("$home/jwks.mode");
    return (500, {}, 'down') if $mode eq 'fail';
    return (200, { 'Content-Type' => 'text/html' }, '<html>not keys</html>') if $mode eq 'html';
    return (200, { 'Content-Type' => 'application/json' }, slurp("$home/jwks.json"));
});

my $ISS = 'https://sso.city.test';
my ($rc, $out, $err) = $t->ctl('issuer', 'add', $ISS, '--jwks', "$sso->{url}/jwks",
                               '--audience', 'city-api', '--env', 'production');
is($rc, 0, 'issuer add with a URL JWKS') or diag($err);
like($out, qr/^\d+\n$/, 'issuer add prints the id');
chomp(my $iid = $out);

sub ext_token {
    my (%o) = @_;
    my $now = time;
    my %cl = (iss => $ISS, sub => 'cons-sys', aud => 'city-api', iat => int $now,
              exp => int($now) + 300, %{ $o{claims} // {} });
    delete $cl{$_} for @{ $o{drop} // [] };
    return sign({ alg => $o{alg} // 'RS256', typ => 'JWT', kid => $o{kid} // 'ext-1' }, \%cl,
                $o{key} // "$home/ext1.pem");
}

my $xt = ext_token();
ok($t->wait_until(sub { call('/api/citizen/v1/x', $xt)->{status} == 200 }, 5),
   'external issuer: lgspd fetched its JWKS and the gateway accepts its token');
{
    my $r = call('/api/citizen/v1/x', $xt);
    my $e = eval { decode_json($r->{content}) } // {};
    is($e->{headers}{'x-lgsp-consumer-org'}, 'H26.108', "no org in the token: the system's agency gives it");
    is($e->{headers}{'x-lgsp-consumer-system'}, 'cons-sys', 'the system named by sub');
}
is(call('/api/citizen/v1/x', ext_token(claims => { org => 'H26.108' }))->{status}, 200,
   'external: org of the right agency');
refused(call('/api/citizen/v1/x', ext_token(claims => { org => 'H26.107' })), 403,
        'identity_rejected', 'external: org of another agency');
refused(call('/api/citizen/v1/x', ext_token(claims => { sub => 'no-such-sys' })), 403,
        'identity_rejected', 'external: sub names no registered system');
refused(call('/api/citizen/v1/x', ext_token(claims => { sub => 'prov-sys' })), 403,
        'no_grant', 'external: a registered system without a grant');
refused(call('/api/citizen/v1/x', ext_token(claims => { aud => 'lgsp:production' })), 401,
        'invalid_token', "external: the platform's audience is not the issuer's");
refused(call('/api/citizen/v1/x', ext_token(claims => { iss => 'https://lgsp.hanoi.gov.vn' })), 401,
        'invalid_token', "external key passing as the platform's issuer");
refused(call('/api/citizen/v1/x', ext_token(claims => { iss => 'https://evil.test' })), 401,
        'invalid_token', 'external: wrong iss');
refused(call('/api/citizen/v1/x', ext_token(claims => { exp => int(time) - 3600 })), 401,
        'token_expired', 'external: expired');
refused(call('/api/citizen/v1/x', ext_token(drop => ['sub'])), 401, 'invalid_token',
        'external: missing sub');
refused(call('/sandbox/api/citizen/v1/x', $xt), 401, 'invalid_token',
        'external issuer trusted in production only: refused in sandbox');
refused(call('/api/citizen/v1/x', ext_token(key => "$home/keys/$es_kid.pem", kid => 'ext-1')), 401,
        'invalid_token', "external kid signed with another key");
refused(call('/api/citizen/v1/x', ext_token(kid => $es_kid, key => "$home/ext1.pem")), 401,
        'invalid_token', "external token under the platform's kid");

# the source fails or answers garbage: the last good set stays
for my $mode ('fail', 'html') {
    spew("$home/jwks.mode", $mode);
    sleep 2.5;    # more than two refresh periods
    is(call('/api/citizen/v1/x', ext_token())->{status}, 200,
       "JWKS source answering $mode: the last good keys stay");
}
like(slurp("$home/lgspd.out"), qr/issuer $iid: .*the last good keys stay/,
     'lgspd says why it kept the last good keys');

# the issuer rotates: a new key (EC) in its JWKS is picked up by the refresh
spew("$home/jwks.json", encode_json({ keys => [rsa_jwk("$home/ext1.pem", 'ext-1'),
                                               ec_jwk("$home/ext2.pem", 'ext-2')] }));
spew("$home/jwks.mode", 'ok');
my $xt2 = ext_token(alg => 'ES256', kid => 'ext-2', key => "$home/ext2.pem");
ok($t->wait_until(sub { call('/api/citizen/v1/x', $xt2)->{status} == 200 }, 5),
   "the issuer's new ES256 key is fetched and accepted");
refused(call('/api/citizen/v1/x', ext_token(alg => 'RS256', kid => 'ext-2', key => "$home/ext1.pem")),
        401, 'invalid_token', "external: RS256 under the issuer's EC kid");

# a file JWKS, in sandbox, with the system named by another claim
spew("$home/sbx-jwks.json", encode_json({ keys => [rsa_jwk("$home/ext1.pem", 'sbx-1')] }));
($rc, $out, $err) = $t->ctl('issuer', 'add', 'https://vdxp.test', '--jwks', "$home/sbx-jwks.json",
                            '--audience', 'lgsp-hn', '--env', 'sandbox', '--system-claim', 'azp');
is($rc, 0, 'issuer add with a file JWKS and --system-claim') or diag($err);
chomp(my $vid = $out);
my %vcl = (iss => 'https://vdxp.test', aud => 'lgsp-hn', sub => 'citizen-123', azp => 'cons-sys');
sub vtok { my %o = @_; my $now = int time;
           my %cl = (%vcl, iat => $now, exp => $now + 300, %{ $o{claims} // {} });
           delete $cl{$_} for @{ $o{drop} // [] };
           sign({ alg => 'RS256', kid => $o{kid} // 'sbx-1' }, \%cl, "$home/ext1.pem") }
ok($t->wait_until(sub { call('/sandbox/api/citizen/v1/x', vtok())->{status} == 200 }, 5),
   'file JWKS issuer: the system named by azp is accepted in sandbox');
refused(call('/sandbox/api/citizen/v1/x', vtok(drop => ['azp'])), 401, 'invalid_token',
        'system claim missing (sub alone does not do)');
refused(call('/sandbox/api/citizen/v1/x', vtok(claims => { azp => 7 })), 401, 'invalid_token',
        'system claim not a string');
refused(call('/sandbox/api/citizen/v1/x', vtok(claims => { azp => 'ghost-sys' })), 403,
        'identity_rejected', 'system claim names no registered system');
refused(call('/api/citizen/v1/x', vtok()), 401, 'invalid_token',
        'sandbox-only issuer refused in production');
# the file changes: lgspd reads it again
spew("$home/sbx-jwks.json", encode_json({ keys => [rsa_jwk("$home/ext1.pem", 'sbx-2')] }));
ok($t->wait_until(sub { call('/sandbox/api/citizen/v1/x', vtok(kid => 'sbx-2'))->{status} == 200 }, 5),
   'a changed JWKS file is read again');
ok($t->wait_until(sub { call('/sandbox/api/citizen/v1/x', vtok())->{status} == 401 }, 5),
   'and a kid gone from it is refused');

# lgspctl: list, refusals, remove
{
    my $l = decode_json($t->ctl_ok('--json', 'issuer', 'list'));
    is(scalar @$l, 2, 'issuer list: two issuers');
    my ($a) = grep { $_->{id} == $iid } @$l;
    is($a->{iss}, $ISS, 'list: iss');
    is($a->{system_claim}, 'sub', 'list: default system claim sub');
    is_deeply([sort map { $_->{kid} } @{ $a->{keys} }], ['ext-1', 'ext-2'], 'list: the kids in force');
    my ($b) = grep { $_->{id} == $vid } @$l;
    is($b->{system_claim}, 'azp', 'list: system claim azp');
    is($b->{env}, 'sandbox', 'list: env');
    like($t->ctl_ok('issuer', 'list'), qr/sso\.city\.test.*production/, 'list: a table');

    my @bad = (
        [2, [$ISS, '--audience', 'a'], 'without --jwks'],
        [2, [$ISS, '--jwks', "$home/sbx-jwks.json"], 'without --audience'],
        [2, ['x', '--jwks', "$home/sbx-jwks.json", '--audience', 'a', '--env', 'staging'], 'bad env'],
        [2, ['x', '--jwks', "$home/sbx-jwks.json", '--audience', 'a', '--system-claim', 'exp'],
         'system claim exp'],
        [2, ['x', '--jwks', "$home/sbx-jwks.json", '--audience', 'a b'], 'audience with a space'],
        [1, ['x', '--jwks', "$home/nosuch.json", '--audience', 'a'], 'a missing file'],
        [1, ['x', '--jwks', "$home/lgspd.conf", '--audience', 'a'], 'a file that is no JWKS'],
        [1, [$ISS, '--jwks', "$home/sbx-jwks.json", '--audience', 'a'], 'the same iss and env twice'],
        [1, ['https://lgsp.hanoi.gov.vn', '--jwks', "$home/sbx-jwks.json", '--audience', 'a'],
         "the platform's own iss"],
    );
    for my $b (@bad) {
        my ($rc2, undef, $e2) = $t->ctl('issuer', 'add', @{ $b->[1] });
        is($rc2, $b->[0], "issuer add refused: $b->[2] (exit $b->[0])");
        like($e2, qr/^lgspctl: /m, "$b->[2]: says why");
    }
    spew("$home/weak.json", encode_json({ keys => [{ kty => 'oct', kid => 'h', k => 'c2VjcmV0' }] }));
    my ($rc3, undef, $e3) = $t->ctl('issuer', 'add', 'y', '--jwks', "$home/weak.json", '--audience', 'a');
    is($rc3, 1, 'a JWKS of only a symmetric key is refused');
    like($e3, qr/no usable key/, 'and says so');

    my ($rc4) = $t->ctl('issuer', 'remove', '999');
    is($rc4, 1, 'issuer remove of no issuer: exit 1');
    is(call('/api/citizen/v1/x', $xt)->{status}, 200, 'before remove: accepted (cached)');
    $t->ctl_ok('issuer', 'remove', $iid);
    refused(call('/api/citizen/v1/x', $xt), 401, 'invalid_token', 'a removed issuer: its cached token refused');
    is(scalar @{ decode_json($t->ctl_ok('--json', 'issuer', 'list')) }, 1, 'one issuer left');
    like($t->ctl_ok('log'), qr/issuer:$iid/, 'the change log has the issuer');
}

$t->stop;
done_testing;
