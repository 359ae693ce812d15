#!/usr/bin/perl
# GET /lgsp/metrics (SPEC §11): Prometheus text that promtool accepts, whose
# counters match the calls this test sent through the real data path, kept
# across a reload; lgspd's gauges in the same scrape; and the spool
# backlog still shown when lgspd is down.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use LGSP::Test;
use LGSP::Demo;

my $PROMTOOL = '/usr/bin/promtool';
plan skip_all => "no $PROMTOOL (scripts/setup installs Debian's prometheus)" unless -x $PROMTOOL;

my $t = LGSP::Test->new(workers => 2);
my $h = $t->home;
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');
my $sbx = $d->token('sandbox');

# the sandbox grant: one call a second, so some are refused
my ($g) = grep { $_->{env} eq 'sandbox' || ($_->{environment} // '') eq 'sandbox' }
          @{ decode_json($t->ctl_ok('grant', 'list', '--json')) };
ok($g, 'the sandbox grant') or diag($t->ctl_ok('grant', 'list', '--json'));
$t->ctl_ok('grant', 'set', $g->{id}, '--rate', '1/s', '--burst', '1');

sub scrape {
    my $r = $t->http('GET', '/lgsp/metrics');
    is($r->{status}, 200, 'metrics answer 200');
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'exposition format 0.0.4');
    my $f = "$h/scrape.prom";
    open my $fh, '>', $f or die; print $fh $r->{content}; close $fh;
    my $out = `$PROMTOOL check metrics < $f 2>&1`;
    is($?, 0, 'promtool check metrics accepts it') or diag($out);
    my %m;
    for (split /\n/, $r->{content}) {
        next if /^#/;
        /^(\w+)(\{[^}]*\})? (\S+)$/ or do { fail("unparsed line: $_"); next };
        $m{ $1 . ($2 // '') } = $3;
    }
    return \%m;
}

sub series {
    my ($name, %l) = @_;
    return $name . '{' . join(',', map { qq{$_="$l{$_}"} } qw(service version environment result)) . '}';
}

# ---- calls through the data path, and what they should count
my (%want, %denied, $token_calls, $limited);
sub call {
    my ($path, $auth, $svc, $env) = @_;
    my $r = $t->http('GET', $path, headers => { $auth ? (Authorization => "Bearer $auth") : () });
    my $res = $r->{status} < 400 ? '00' : '01';
    my @k = $svc ? (service => 'citizen', version => 'v1', environment => $env)
                 : (service => '', version => '', environment => '');
    $want{ series('lgsp_requests_total', @k, result => $res) }++;
    if ($r->{status} >= 400) {
        my $err = eval { decode_json($r->{content})->{error} } // 'unparsed';
        $denied{$err}++;
    }
    $limited++ if $r->{status} == 429;
    return $r->{status};
}

is(call('/api/citizen/v1/people/1', $tok, 1, 'production'), 200, 'an allowed call') for 1 .. 8;
$token_calls += 8;
is(call('/api/citizen/v1/x', undef, 1, 'production'), 401, 'no token') for 1 .. 3;
is(call('/api/nosuch/v1/x', $tok, 0), 404, 'unknown service') for 1 .. 2;
call('/sandbox/api/citizen/v1/x', $sbx, 1, 'sandbox') for 1 .. 6;
$token_calls += 6;
ok($limited >= 1, "the sandbox rate limit refused $limited of 6");

my $total = 0;
$total += $_ for values %want;
my $m;
ok($t->wait_until(sub {
    $m = scrape();
    my $n = 0;
    $n += $m->{$_} // 0 for grep { /^lgsp_requests_total\{/ } keys %$m;
    $n == $total }, 10), "the log phase counted all $total calls");

for my $s (sort keys %want) {
    is($m->{$s}, $want{$s}, "$s");
}
is(scalar(grep { /^lgsp_requests_total\{/ } keys %$m), scalar(keys %want), 'and no other series');

# each histogram holds every call of its series
for my $s (sort keys %want) {
    (my $labels = $s) =~ s/^lgsp_requests_total//;
    is($m->{"lgsp_request_duration_seconds_count$labels"}, $want{$s}, "histogram count $labels");
    (my $inf = $labels) =~ s/\}$/,le="+Inf"}/;
    is($m->{"lgsp_request_duration_seconds_bucket$inf"}, $want{$s}, "+Inf bucket $labels");
    (my $fast = $labels) =~ s/\}$/,le="0.005"}/;
    ok($m->{"lgsp_request_duration_seconds_bucket$fast"} <= $want{$s}, 'buckets are cumulative');
}

for my $reason (qw(missing_token unknown_service rate_limited no_grant invalid_token)) {
    is($m->{qq{lgsp_denials_total{reason="$reason"}}}, $denied{$reason} // 0, "denials: $reason");
}
is($m->{lgsp_rate_limited_total}, $limited, 'rate-limit rejections: the 429s we got');
is($m->{lgsp_token_cache_hits_total} + $m->{lgsp_token_cache_misses_total}, $token_calls,
   'one token cache lookup per call with a token that reached step 3');
ok($m->{lgsp_token_cache_hits_total} >= $token_calls - 4, 'repeated tokens hit the cache');
ok($m->{lgsp_snapshot_generation} >= 1, 'snapshot generation');
is($m->{lgsp_snapshot_generation}, $t->published_generation, 'the one lgspd published');
ok(defined $m->{lgsp_snapshot_age_seconds}, 'snapshot age');
is($m->{lgsp_snapshots_refused_total}, 0, 'no snapshot refused');
is($m->{lgsp_audit_dropped_total}, 0, 'no audit record dropped');
is($m->{lgsp_lgspd_up}, 1, 'lgspd up');
is($m->{lgsp_control_metrics_up}, 1, "lgspd's metrics in the same scrape");
ok($m->{lgsp_control_metrics_age_seconds} <= 5, 'and fresh');
my $open = `sqlite3 $h/health.db "SELECT count(*) FROM incidents WHERE closed_ms IS NULL"`;
is($m->{lgsp_incidents_open}, $open + 0, 'open incidents as health.db has them');
ok(defined $m->{lgsp_health_poller_lag_seconds}, 'health poller lag');
ok(defined $m->{lgsp_audit_ingest_lag_seconds}, 'ingestion lag');
ok($t->wait_until(sub { scrape()->{lgsp_audit_spool_backlog} == 0 }, 20), 'backlog drains to 0');

# ---- a reload keeps the counters
my $ok = series('lgsp_requests_total', service => 'citizen', version => 'v1',
                environment => 'production', result => '00');
my $old = `pgrep -P $t->{pids}{nginx}`;
$t->reload_nginx;
ok($t->wait_until(sub { my $now = `pgrep -P $t->{pids}{nginx}`; $now ne $old && $now ne '' }, 10),
   'new workers after the reload');
sleep 0.5;
is(call('/api/citizen/v1/people/2', $tok, 1, 'production'), 200, 'a call after the reload');
ok($t->wait_until(sub { (scrape()->{$ok} // 0) == 9 }, 10), 'the counter went on from 8 to 9');

# ---- lgspd down: the gateway still answers and shows the backlog grow
$t->stop_lgspd('TERM');
call('/api/citizen/v1/people/3', $tok, 1, 'production') for 1 .. 3;
ok($t->wait_until(sub { my $s = scrape(); $s->{lgsp_lgspd_up} == 0
                        && $s->{lgsp_audit_spool_backlog} >= 3 }, 10),
   'lgspd down: lgsp_lgspd_up 0 and the spool backlog holds the 3 calls');
$t->start_lgspd;
ok($t->wait_until(sub { my $s = scrape(); $s->{lgsp_lgspd_up} == 1
                        && $s->{lgsp_audit_spool_backlog} == 0 }, 20),
   'lgspd back: the backlog drains');

# ---- refusals
my $r = $t->http('POST', '/lgsp/metrics', content => 'x');
is($r->{status}, 405, 'POST refused');

$t->stop;
done_testing;
