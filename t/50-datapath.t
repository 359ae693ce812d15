#!/usr/bin/perl
# The data path (SPEC §4-§6): a token from lgspd, a call through nginx to a
# real upstream, and every refusal of the SPEC §4 table with its envelope.
use strict;
use warnings;
use lib 't/lib';
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 2);
my $up = $t->upstream;
my $sbx = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up, sandbox_upstream => $sbx);
my $tok = $d->token('production');
my $stok = $d->token('sandbox');
ok($t->wait_until(sub { call('GET', '/api/citizen/v1/ping', $tok)->{status} == 200 }, 3),
   'the registry reaches the data path');

sub call {
    my ($method, $path, $token, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $token" if defined $token;
    return $t->http($method, $path, headers => \%h,
                    (defined $o{content} ? (content => $o{content}) : ()));
}

sub envelope { LGSP::Test::envelope(@_) }

# --- the happy path, production ---------------------------------------
my $r = call('GET', '/api/citizen/v1/people/42?name=a%20b&x=..%2F', $tok,
             headers => { 'X-LGSP-Consumer-Org' => 'G01', 'X-LGSP-Consumer-System' => 'evil',
                          'X-LGSP-Environment' => 'sandbox', 'X-LGSP-Transaction-Id' => 'forged',
                          'X-LGSP-Request-Id' => 'my-req:1' });
is($r->{status}, 200, 'production call reaches the provider') or diag($r->{content});
my $echo = decode_json($r->{content});
is($echo->{uri}, '/base/people/42?name=a%20b&x=..%2F', 'rest and query forwarded as received');
is($echo->{headers}{'x-lgsp-consumer-org'}, 'H26.108', 'consumer org sent, spoof replaced');
is($echo->{headers}{'x-lgsp-consumer-system'}, 'cons-sys', 'consumer system sent');
is($echo->{headers}{'x-lgsp-environment'}, 'production', 'environment sent');
like($echo->{headers}{'x-lgsp-transaction-id'}, qr/^[0-9a-f]{32}$/, 'transaction id sent');
is($echo->{headers}{'x-lgsp-transaction-id'}, $r->{headers}{'x-lgsp-transaction-id'},
   'the client sees the same transaction id');
my $liar = $t->upstream(sub { (200, { 'X-LGSP-Transaction-Id' => 'from-provider' }, '{}') });
$t->ctl_ok('service', 'version', 'add', 'citizen/v5', '--upstream', $liar->{url});
$t->ctl_ok('service', 'publish', 'citizen/v5', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v5', '--env', 'production');
$r = call('GET', '/api/citizen/v5/x', $tok);
like($r->{headers}{'x-lgsp-transaction-id'}, qr/^[0-9a-f]{32}$/,
     "one transaction id, the gateway's, even when the provider sends one");
ok(!exists $echo->{headers}{authorization}, "the consumer's token is not forwarded");
is($echo->{headers}{'x-lgsp-request-id'}, 'my-req:1', 'the client request id travels');
like($echo->{headers}{host}, qr/^127\.0\.0\.1:\d+$/, 'Host is the provider');

# --- the version's own upstream credential ----------------------------
for my $case (['citizen/v6', 'X-Api-Key', 'x-api-key', 'S3cret-Key!x'],
              ['citizen/v7', 'Authorization', 'authorization', 'Bearer Pr0vider!tok']) {
    my ($sv, $name, $lc, $secret) = @$case;
    my $f = "$t->{home}/cred.txt";
    open my $fh, '>', $f or die; print $fh "$name: $secret\n"; close $fh;
    $t->ctl_ok('service', 'version', 'add', $sv, '--upstream', "$up->{url}/base",
               '--upstream-header-file', $f);
    unlink $f;
    $t->ctl_ok('service', 'publish', $sv, '--env', 'production');
    $t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', $sv, '--env', 'production');
    my $rr = call('GET', "/api/$sv/x", $tok, headers => { 'X-Api-Key' => 'client-sent' });
    is($rr->{status}, 200, "$name credential: call") or diag($rr->{content});
    my $e = decode_json($rr->{content});
    is($e->{headers}{$lc}, $secret, "$name credential: the provider gets the version's");
    isnt($e->{headers}{'x-api-key'}, 'client-sent', "$name: a client-sent copy never passes")
        if $name eq 'X-Api-Key';
    unlike($t->slurp($t->error_log), qr/\Q$secret\E/, "$name: the secret is not in the error log");
}

# more stale copies than the gateway writes (the module rebuilds the header
# list then, instead of overwriting in place): still exactly one of each
{
    my %dup = map { $_ => ["$_-one", "$_-two"] }
        qw(X-Api-Key X-LGSP-Consumer-Org X-LGSP-Consumer-System X-LGSP-Environment
           X-LGSP-Transaction-Id);
    my $rr = call('GET', '/api/citizen/v6/x', $tok,
                  headers => { %dup, 'X-Custom' => 'kept', 'x-lgsp-request-id' => 'dup-1' });
    is($rr->{status}, 200, 'eleven stale headers: call') or diag($rr->{content});
    my $h = decode_json($rr->{content})->{headers};
    is($h->{'x-api-key'}, 'S3cret-Key!x', 'eleven stale: one credential, the version\'s');
    is($h->{'x-lgsp-consumer-org'}, 'H26.108', 'eleven stale: one consumer org');
    is($h->{'x-lgsp-consumer-system'}, 'cons-sys', 'eleven stale: one consumer system');
    is($h->{'x-lgsp-environment'}, 'production', 'eleven stale: one environment');
    is($h->{'x-lgsp-transaction-id'}, $rr->{headers}{'x-lgsp-transaction-id'},
       'eleven stale: one transaction id, the one the client sees');
    ok(!exists $h->{authorization}, 'eleven stale: the token is not forwarded');
    is($h->{'x-custom'}, 'kept', 'eleven stale: other client headers pass');
    is($h->{'x-lgsp-request-id'}, 'dup-1', 'eleven stale: the request id passes');
}

# --- upstream TLS is verified -------------------------------------------
SKIP: {
    my $tls_port = LGSP::Test::free_port();
    my $dir = "$t->{home}/tls";
    mkdir $dir;
    system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/k.pem -out $dir/c.pem"
           . " -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1") == 0 or skip 'openssl req', 2;
    my $srv = fork // die;
    if ($srv == 0) {
        open STDOUT, '>', '/dev/null'; open STDERR, '>', '/dev/null';
        exec 'openssl', 's_server', '-accept', $tls_port, '-cert', "$dir/c.pem",
             '-key', "$dir/k.pem", '-www', '-quiet';
    }
    $t->wait_until(sub { IO::Socket::INET->new("127.0.0.1:$tls_port") }, 5);
    $t->ctl_ok('service', 'version', 'add', 'citizen/v8', '--upstream', "https://127.0.0.1:$tls_port/");
    $t->ctl_ok('service', 'publish', 'citizen/v8', '--env', 'production');
    $t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v8', '--env', 'production');
    envelope(call('GET', '/api/citizen/v8/x', $tok), 502, 'upstream_error',
             'a self-signed provider certificate is refused');
    like($t->slurp($t->error_log), qr/certificate verify failed|self.signed/i,
         'because TLS verification failed');
    kill 'TERM', $srv;
    waitpid $srv, 0;
}

# --- sandbox reaches the sandbox upstream ------------------------------
$r = call('GET', '/sandbox/api/citizen/v1/x', $stok);
is($r->{status}, 200, 'sandbox call') or diag($r->{content});
is(decode_json($r->{content})->{uri}, '/sbx/x', 'sandbox upstream, not production');
envelope(call('GET', '/sandbox/api/citizen/v1/x', $tok), 401, 'invalid_token',
         'production token on the sandbox path');
envelope(call('GET', '/api/citizen/v1/x', $stok), 401, 'invalid_token',
         'sandbox token on the production path');

# --- step 1: raw path -------------------------------------------------
for my $p ('/api/citizen/v1/../../other/v1/x', '/api/citizen/v1/%2e%2e/x',
           '/api/citizen/v1/a%2fb', '/api/citizen/v1/a%5Cb', '/api/citizen/v1/./x',
           '/api/citizen/v1/%2E%2e/%2E%2E/x') {
    envelope(raw_get($p, $tok), 400, 'invalid_path', "path $p");
}
envelope(call('GET', '/api/citizen/v1/x', $tok, headers => { 'X-LGSP-Request-Id' => 'a b' }),
         400, 'invalid_request_id', 'bad request id');
envelope(call('GET', '/api/citizen/v1/x', $tok, headers => { 'X-LGSP-Request-Id' => 'a' x 65 }),
         400, 'invalid_request_id', 'request id over 64');

# --- step 2 ------------------------------------------------------------
envelope(call('GET', '/api/nosuch/v1/x', $tok), 404, 'unknown_service', 'unknown service');
envelope(call('GET', '/api/citizen/v9/x', $tok), 404, 'unknown_service', 'unknown version');

# --- step 3: tokens ----------------------------------------------------
$r = call('GET', '/api/citizen/v1/x', undef);
envelope($r, 401, 'missing_token', 'no token');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="lgsp"', 'WWW-Authenticate without error');
$r = $t->http('GET', '/api/citizen/v1/x', headers => { Authorization => 'Basic YTpi' });
envelope($r, 401, 'missing_token', 'Basic scheme');
# the scheme is case-insensitive (RFC 9110 §11.1), the token is not
for my $scheme ('bearer', 'BEARER', 'BeArEr') {
    $r = $t->http('GET', '/api/citizen/v1/x', headers => { Authorization => "$scheme $tok" });
    is($r->{status}, 200, "scheme spelled $scheme") or diag($r->{content});
}
$r = $t->http('GET', '/api/citizen/v1/x', headers => { Authorization => 'Bearerx ' . $tok });
envelope($r, 401, 'missing_token', 'a scheme that only starts with Bearer');
$r = call('GET', '/api/citizen/v1/x', 'garbage');
envelope($r, 401, 'invalid_token', 'garbage token');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="lgsp", error="invalid_token"',
   'WWW-Authenticate with error');
envelope(call('GET', '/api/citizen/v1/x', 'a' x 9000), 401, 'invalid_token', 'token over 8 KB');
my $c = LGSP::Demo::claims($tok);
my %base = %$c;
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, exp => time - 3600 })),
         401, 'token_expired', 'expired token');
my $er = call('GET', '/api/citizen/v1/x', $d->mint({ %base, exp => time - 3600 }));
like($er->{headers}{'www-authenticate'}, qr/error="invalid_token"/, 'expired: WWW-Authenticate');
is(call('GET', '/api/citizen/v1/x', $d->mint({ %base, exp => time - 30 }))->{status}, 200,
   'expired within the skew is accepted');
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, nbf => time + 3600 })),
         401, 'invalid_token', 'nbf in the future');
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, iss => 'https://evil' })),
         401, 'invalid_token', 'wrong iss');
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, aud => 'lgsp:other' })),
         401, 'invalid_token', 'wrong aud');
envelope(call('GET', '/api/citizen/v1/x', $d->mint(\%base, kid => 'nosuchkid')),
         401, 'invalid_token', 'unknown kid');
(my $bad_sig = $tok) =~ s/.{4}$/AAAA/;
envelope(call('GET', '/api/citizen/v1/x', $bad_sig), 401, 'invalid_token', 'bad signature');

# --- step 4: identity --------------------------------------------------
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, org => 'H26.107' })),
         403, 'identity_rejected', 'org of another agency');
envelope(call('GET', '/api/citizen/v1/x', $d->mint({ %base, sub => 'prov-sys' })),
         403, 'identity_rejected', "sub not the credential's system");

# --- step 5: grant and method -----------------------------------------
$t->ctl_ok('system', 'add', 'other-sys', '--agency', 'H26.108', '--name', 'Khac');
my ($oid, $osecret) = split /\n/, $t->ctl_ok('credential', 'issue', 'other-sys', '--env', 'production');
$d->{cred}{other} = { client_id => $oid, client_secret => $osecret };
my $otok = $d->token('other');
envelope(call('GET', '/api/citizen/v1/x', $otok), 403, 'no_grant', 'no grant');
$r = call('DELETE', '/api/citizen/v1/x', $tok);
envelope($r, 405, 'method_not_allowed', 'method not allowed');
is($r->{headers}{allow}, 'GET, POST', 'Allow lists the methods');

# --- body limit and nginx's own errors --------------------------------
$t->ctl_ok('service', 'set', 'citizen/v1', '--body-limit', '100');
envelope(call('POST', '/api/citizen/v1/x', $tok, content => 'x' x 200,
              headers => { 'Content-Type' => 'text/plain' }),
         413, 'body_too_large', 'body over the version limit');
is(call('POST', '/api/citizen/v1/x', $tok, content => 'x' x 50)->{status}, 200, 'body under the limit');
# a chunked body has no length to judge up front: nginx counts it against
# the version's limit as it reads it
sub chunked {
    my (@chunks) = @_;
    my $path = $chunks[0] =~ m{^/} ? shift @chunks : '/api/citizen/v1/x';
    return raw("POST $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               . "Authorization: Bearer $tok\r\nTransfer-Encoding: chunked\r\n\r\n"
               . join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @chunks) . "0\r\n\r\n");
}
envelope(chunked('x' x 60, 'y' x 60), 413, 'body_too_large', 'chunked body over the version limit');
$r = chunked('x' x 40, 'y' x 40);
is($r->{status}, 200, 'chunked body under the limit') or diag($r->{content});
is(decode_json($r->{content})->{body_length}, 80, 'the provider got the whole chunked body');
$t->ctl_ok('service', 'set', 'citizen/v1', '--body-limit', '0');
envelope(chunked('z'), 413, 'body_too_large', 'chunked body to a version that takes none');
$t->ctl_ok('service', 'set', 'citizen/v1', '--body-limit', '100');
is(call('GET', '/api/citizen/v1/x', $tok)->{status}, 200, 'the shared location keeps serving');
# the limit was this request's: the location's own is untouched for others
$t->ctl_ok('service', 'version', 'add', 'citizen/v11', '--upstream', "$up->{url}/base",
           '--methods', 'GET,POST');
$t->ctl_ok('service', 'publish', 'citizen/v11', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v11', '--env', 'production');
for (1 .. 4) {
    envelope(chunked('x' x 120), 413, 'body_too_large', 'chunked over v1 again');
    my $c11 = chunked('/api/citizen/v11/x', 'x' x 120);
    is($c11->{status}, 200, 'chunked 120 bytes to v11 (default limit)') or diag($c11->{content});
}
envelope($t->http('GET', '/api/citizen/v1/' . ('a' x 20000)), 414, 'uri_too_long', 'URI too long');
envelope(raw("GET /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"), 400,
         'bad_request', 'malformed request');
envelope(raw("GET /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\nX-Big: " . ('b' x 17000) . "\r\n\r\n"),
         400, 'bad_request', 'header over the buffers');

# --- upstream failures ---------------------------------------------------
my $dead = LGSP::Test::free_port();
$t->ctl_ok('service', 'version', 'add', 'citizen/v2', '--upstream', "http://127.0.0.1:$dead/",
           '--methods', 'GET');
$t->ctl_ok('service', 'publish', 'citizen/v2', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v2', '--env', 'production');
envelope(call('GET', '/api/citizen/v2/x', $tok), 502, 'upstream_error', 'provider unreachable');

my $slow = $t->upstream(sub { sleep 3; (200, {}, 'late') });
$t->ctl_ok('service', 'version', 'add', 'citizen/v3', '--upstream', $slow->{url}, '--timeout', '1');
$t->ctl_ok('service', 'publish', 'citizen/v3', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v3', '--env', 'production');
envelope(call('GET', '/api/citizen/v3/x', $tok), 504, 'upstream_timeout', 'provider too slow');

# provider errors pass through unchanged
my $teapot = $t->upstream(sub { (502, { 'Content-Type' => 'text/plain', 'X-Prov' => 'yes' }, 'provider says no') });
$t->ctl_ok('service', 'version', 'add', 'citizen/v4', '--upstream', $teapot->{url});
$t->ctl_ok('service', 'publish', 'citizen/v4', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v4', '--env', 'production');
$r = call('GET', '/api/citizen/v4/x', $tok);
is($r->{status}, 502, 'provider status passes through');
is($r->{content}, 'provider says no', 'provider body passes through');
is($r->{headers}{'x-prov'}, 'yes', 'provider headers pass through');

# --- deprecation headers ---------------------------------------------
$t->ctl_ok('service', 'deprecate', 'citizen/v1', '--sunset', '2027-12-31', '--force', '--reason', 'test');
$r = call('GET', '/api/citizen/v1/x', $tok);
is($r->{status}, 200, 'deprecated version still works');
like($r->{headers}{deprecation} // '', qr/^@\d+$/, 'Deprecation: @unix-time');
like($r->{headers}{sunset} // '', qr/^\w{3}, \d\d \w{3} 2027 \d\d:\d\d:\d\d GMT$/, 'Sunset: HTTP-date');
like($r->{headers}{link} // '', qr{^</api/citizen/v\d/>; rel="successor-version"$}, 'Link to the successor');

# --- the verified-token cache ---------------------------------------------
my $tc0 = $t->get_json('/lgsp/status')->{token_cache};
ok($tc0 && $tc0->{capacity} > 0, 'token cache on');
call('GET', '/api/citizen/v1/c', $tok) for 1 .. 10;
my $tc1 = $t->get_json('/lgsp/status')->{token_cache};
cmp_ok($tc1->{hits} - $tc0->{hits}, '>=', 9, 'a repeated token hits the cache');
envelope(call('GET', '/sandbox/api/citizen/v1/x', $tok), 401, 'invalid_token',
         'a cached production token replayed on the sandbox path');

# --- keepalive to the provider -------------------------------------------
my $before = $up->{conns}->();
call('GET', '/api/citizen/v1/k', $tok) for 1 .. 40;
my $opened = $up->{conns}->() - $before;
ok($opened <= 2, "keepalive: 40 calls opened $opened new upstream connections");

# --- revocations take effect within 1 s, no reload ---------------------
# Timed from the command's return (its commit), not from a settled state.
sub within_1s {
    my ($name, $status, $token, $path, @cmd) = @_;
    my ($rc, undef, $err) = $t->ctl(@cmd);
    is($rc, 0, "lgspctl @cmd") or diag($err);
    my $t0 = Time::HiRes::time();
    my $ok = $t->wait_until(sub { call('GET', $path, $token)->{status} == $status }, 1);
    ok($ok, sprintf("%s: %d after %.2f s (limit 1 s)", $name, $status, Time::HiRes::time() - $t0));
}
my $gid = (grep { $_->{service} =~ m{citizen/v3} } @{ decode_json($t->ctl_ok('grant', 'list', '--json')) })[0]{id};
ok($gid, "grant id $gid");
my $v1 = '/api/citizen/v1/x';
within_1s('grant suspended', 403, $tok, '/api/citizen/v3/x', 'grant', 'suspend', $gid, '--reason', 'test');
within_1s('grant revoked', 403, $tok, '/api/citizen/v3/x', 'grant', 'revoke', $gid);
within_1s('service suspended', 503, $tok, '/api/citizen/v4/x', 'service', 'suspend', 'citizen/v4', '--reason', 'maintenance');
within_1s('version retired', 410, $tok, '/api/citizen/v2/x', 'service', 'retire', 'citizen/v2', '--force', '--reason', 'test');
within_1s('system suspended', 403, $tok, $v1, 'system', 'suspend', 'cons-sys', '--reason', 'test');
within_1s('system resumed', 200, $tok, $v1, 'system', 'resume', 'cons-sys', '--reason', 'test');
within_1s('provider system suspended', 503, $tok, $v1, 'system', 'suspend', 'prov-sys', '--reason', 'test');
within_1s('provider system resumed', 200, $tok, $v1, 'system', 'resume', 'prov-sys', '--reason', 'test');
within_1s('credential revoked', 401, $tok, $v1, 'credential', 'revoke', $d->{cred}{production}{client_id});
within_1s('agency closed', 403, $otok, '/api/citizen/v1/x', 'agency', 'close', 'H26.108', '--reason', 'merged');

$t->stop;
done_testing;

sub raw { $t->raw(@_) }

sub raw_get {
    my ($path, $token) = @_;
    return raw("GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer $token\r\n\r\n");
}
