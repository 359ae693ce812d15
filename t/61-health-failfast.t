#!/usr/bin/perl
# SPEC §4 step 7: when health says the provider is down and the version asks
# for it (--fail-fast on), the gateway answers 503 provider_unavailable at
# once, without calling the provider; when it is back, calls flow again.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use Test::More;
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(workers => 2);
my $state = "$t->{home}/provider-health";
open my $fh, '>', $state or die; print $fh "up"; close $fh;
# one server answers both the level-1 check and the service calls
my $up = $t->upstream(sub {
    my ($req) = @_;
    if ($req->{uri} =~ m{^/health}) {
        my $s = $t->slurp($state);
        return $s eq 'up' ? (200, { 'Content-Type' => 'application/json' }, '{"status":"up"}')
                          : (500, {}, 'down');
    }
    return (200, { 'Content-Type' => 'application/json' }, '{"ok":true}');
});
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');

# a second provider system with a level-1 URL polled every second
$t->ctl_ok('system', 'add', 'watched-sys', '--agency', 'H26.107', '--name', 'Theo doi',
           '--health-url', "$up->{url}/health", '--poll-interval', '1');
$t->ctl_ok('system', 'commitment', 'watched-sys', '--signed-by', 'Tran B', '--date', '2026-02-01');
$t->ctl_ok('service', 'add', 'watched', '--provider', 'watched-sys', '--name', 'Dich vu theo doi',
           '--upstream', "$up->{url}/svc");
$t->ctl_ok('service', 'publish', 'watched/v1', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'watched/v1', '--env', 'production');

sub call { $t->http('GET', '/api/watched/v1/x', headers => { Authorization => "Bearer $tok" }) }

is(call()->{status}, 200, 'provider up: 200');

# down, but the version does not ask for fail-fast: calls still go through
open $fh, '>', $state or die; print $fh "down"; close $fh;

ok($t->wait_until(sub {
    my (undef, $out) = $t->ctl('health', 'show', 'watched-sys', '--json');
    $out =~ /"state"\s*:\s*"down"/;
}, 15), 'health sees the provider down');
is(call()->{status}, 200, 'down, fail-fast off: the call still reaches the provider');

$t->ctl_ok('service', 'set', 'watched/v1', '--fail-fast', 'on');
ok($t->wait_until(sub { call()->{status} == 503 }, 3), 'fail-fast on: 503');
my $conns = $up->{conns}->();
my $r = call();
is($r->{status}, 503, 'provider_unavailable');
is(eval { decode_json($r->{content})->{error} }, 'provider_unavailable', 'envelope error');
is($up->{conns}->(), $conns, 'the provider was not called');

open $fh, '>', $state or die; print $fh "up"; close $fh;
ok($t->wait_until(sub { call()->{status} == 200 }, 15), 'provider back: 200 again');

$t->stop;
done_testing;
