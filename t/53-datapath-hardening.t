#!/usr/bin/perl
# What an attack run got through the data path (issue 26): dot segments
# hidden behind a path parameter, a fragment in the request target, nginx's
# own error pages in HTML, and client headers a provider would trust.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use Test::More;
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 1);

# the echo upstream, also writing down every request line it receives
my $seen = "$t->{home}/provider-saw";
my $up = $t->upstream(sub {
    my ($req) = @_;
    open my $fh, '>>', $seen or die; print $fh "$req->{method} $req->{uri}\n"; close $fh;
    return (200, { 'Content-Type' => 'application/json' },
            encode_json({ method => $req->{method}, uri => $req->{uri},
                          headers => $req->{headers} }));
});
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');
ok($t->wait_until(sub { call('GET', '/api/citizen/v1/ping')->{status} == 200 }, 3),
   'the registry reaches the data path');

sub call {
    my ($method, $path, %h) = @_;
    return $t->http($method, $path, headers => { Authorization => "Bearer $tok", %h });
}

sub raw_call {
    my ($line, @headers) = @_;
    return $t->raw("$line\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer $tok\r\n"
                   . join('', map { "$_\r\n" } @headers) . "\r\n");
}

sub provider_saw { my @l = split /\n/, $t->slurp($seen) // ''; return scalar @l }

# --- dot segments with a path parameter; a fragment ---------------------
# Tomcat, Jetty and Spring drop ";..." from a segment before resolving
# dots: "..;" leaves the version's base path on the provider's side.
my $before = provider_saw();
for my $p ('/api/citizen/v1/..;/admin', '/api/citizen/v1/x/..;/..;/..;/other/v1/y',
           '/api/citizen/v1/.;/x', '/api/citizen/v1/..;jsessionid=1/x',
           '/api/citizen/v1/..%3B/x', '/api/citizen/v1/..%3bx/y', '/api/citizen/v1/x/..;',
           '/api/citizen/v1/%2e%2e;x/y', '/api/citizen/v1/.%2E;/y',
           '/api/citizen/v1/x#frag', '/api/citizen/v1/x?a=1#frag', '/api/citizen/v1#/x',
           '/api/citizen/v1/x#/../../../other/v1/y') {
    LGSP::Test::envelope(raw_call("GET $p HTTP/1.1"), 400, 'invalid_path', "path $p");
}
is(provider_saw(), $before, 'none of them reached the provider');

# a parameter on an ordinary segment is the provider's business
my $r = raw_call('GET /api/citizen/v1/x;jsessionid=1/...;/y%23z?q=%23 HTTP/1.1');
is($r->{status}, 200, 'a path parameter on a name passes') or diag($r->{content});
is(eval { decode_json($r->{content})->{uri} }, '/base/x;jsessionid=1/...;/y%23z?q=%23',
   'and is forwarded as received');

# --- headers a provider may trust ---------------------------------------
my %spoof = ('X-Forwarded-For' => '6.6.6.6', 'X-Real-IP' => '6.6.6.6',
             'Forwarded' => 'for=6.6.6.6;proto=https', 'X-Forwarded-Host' => 'evil.example',
             'X-Forwarded-Proto' => 'https', 'X-Forwarded-Port' => '443',
             'X-Forwarded-Prefix' => '/admin', 'X-HTTP-Method-Override' => 'DELETE',
             'X-HTTP-Method' => 'DELETE', 'X-Method-Override' => 'DELETE');
my @dropped = qw(x-forwarded-host x-forwarded-proto x-forwarded-port x-forwarded-prefix
                 x-http-method-override x-http-method x-method-override);

sub what_the_gateway_saw {
    my ($h, $name) = @_;
    is($h->{'x-forwarded-for'}, '127.0.0.1', "$name: X-Forwarded-For is the client's address");
    is($h->{'x-real-ip'}, '127.0.0.1', "$name: X-Real-IP is the client's address");
    is($h->{forwarded}, 'for=127.0.0.1;proto=http', "$name: Forwarded (RFC 7239)");
    ok(!exists $h->{$_}, "$name: no $_") for @dropped;
    is($h->{'x-lgsp-consumer-org'}, 'H26.108', "$name: the gateway's own headers");
    is($h->{'x-custom'}, 'kept', "$name: other client headers pass");
}

# all of them, and each twice (more stale headers than the gateway writes:
# the list is rebuilt), in a POST that asks to be a DELETE the version's
# method list (GET, POST) does not allow
$r = call('POST', '/api/citizen/v1/x', 'X-Custom' => 'kept',
          map { ($_ => [$spoof{$_}, "$spoof{$_}-again"]) } keys %spoof);
is($r->{status}, 200, 'spoofed headers: call') or diag($r->{content});
my $echo = decode_json($r->{content});
is($echo->{method}, 'POST', 'the provider gets the method the gateway allowed');
what_the_gateway_saw($echo->{headers}, 'twenty spoofed headers');

# one at a time (overwritten in place), in the spelling of the wire
for my $name (sort keys %spoof) {
    $r = raw_call('GET /api/citizen/v1/x HTTP/1.1', uc($name) . ": $spoof{$name}",
                  'X-Custom: kept');
    is($r->{status}, 200, "$name alone: call") or diag($r->{content});
    what_the_gateway_saw(decode_json($r->{content})->{headers}, "$name alone");
}

# --- nginx's own refusals are the envelope too ---------------------------
# Each is answered by nginx before any location (or by a location that is
# not the module's): without error_page they are HTML pages.
my @nginx = (
    [ 'TRACE', "TRACE /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\n\r\n",
      405, 'method_not_allowed' ],
    [ 'POST to the status endpoint', "POST /lgsp/status HTTP/1.1\r\nHost: x\r\n"
      . "Connection: close\r\nContent-Length: 0\r\n\r\n", 405, 'method_not_allowed' ],
    [ 'a transfer coding other than chunked', "POST /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\n"
      . "Transfer-Encoding: gzip\r\n\r\n", 501, 'not_implemented' ],
    [ 'HTTP/2.0 in an HTTP/1 request line', "GET /api/citizen/v1/x HTTP/2.0\r\nHost: x\r\n\r\n",
      505, 'http_version_not_supported' ],
    [ 'HTTP/3.1', "GET /api/citizen/v1/x HTTP/3.1\r\nHost: x\r\n\r\n",
      505, 'http_version_not_supported' ],
    [ 'a broken request line', "GET /api/citizen/v1/x HTTP/1.1 junk\r\nHost: x\r\n\r\n",
      400, 'bad_request' ],
    [ 'HTTP/1.1 without Host', "GET /api/citizen/v1/x HTTP/1.1\r\n\r\n", 400, 'bad_request' ],
    [ 'a bad Content-Length', "POST /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\n"
      . "Content-Length: x1\r\n\r\n", 400, 'bad_request' ],
    [ 'Content-Length and Transfer-Encoding', "POST /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\n"
      . "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 'bad_request' ],
    [ 'a header over the buffers', "GET /api/citizen/v1/x HTTP/1.1\r\nHost: x\r\n"
      . 'X-Big: ' . ('b' x 17000) . "\r\n\r\n", 400, 'bad_request' ],
    [ 'a URI over the buffers', 'GET /api/citizen/v1/' . ('a' x 20000) . " HTTP/1.1\r\n"
      . "Host: x\r\n\r\n", 414, 'uri_too_long' ],
    [ 'a body over client_max_body_size', "POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
      . "Connection: close\r\nContent-Length: 2000000\r\n\r\n", 413, 'body_too_large' ],
    [ 'no such location', "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      404, 'not_found' ],
    [ 'an internal location asked for', "GET /_lgsp_error/400 HTTP/1.1\r\nHost: x\r\n"
      . "Connection: close\r\n\r\n", 404, 'not_found' ],
);
for my $case (@nginx) {
    my ($name, $req, $status, $error) = @$case;
    $r = $t->raw($req);
    LGSP::Test::envelope($r, $status, $error, $name);
    unlike($r->{content}, qr/<html/i, "$name: no HTML page");
}
# CONNECT: 400 in nginx 1.22 (its request line has no path), 405 later
$r = $t->raw("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n");
LGSP::Test::envelope($r, $r->{status}, $r->{status} == 405 ? 'method_not_allowed' : 'bad_request',
                     'CONNECT');
like($r->{status}, qr/^40[05]$/, 'CONNECT is refused');
is($t->raw("POST /lgsp/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           . "Content-Length: 0\r\n\r\n")->{headers}{allow}, 'GET, HEAD',
   'a status endpoint says which methods it answers');

$t->stop;
done_testing;
