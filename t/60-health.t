#!/usr/bin/perl
# Connection status (SPEC §8): lgspd polls real HTTP targets that answer
# up, down (500), slow (past the timeout), garbage and "degraded"; state
# with hysteresis; incidents opened and closed with webhook notifications
# (the first delivery refused, so it is retried); history and summaries;
# registry changes picked up; the platform's own /lgsp/health[/services]
# through nginx.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Time::HiRes qw(sleep);
use Encode ();
use LGSP::Test;

my $t = LGSP::Test->new(start => 0);
my $home = $t->home;

# Each target's behaviour is a file the handler reads on every request.
sub mode { my ($name, $mode) = @_; open my $fh, '>', "$home/mode-$name" or die; print $fh $mode; close $fh }

my $targets = $t->upstream(sub {
    my ($req) = @_;
    my ($name) = $req->{uri} =~ m{^/([a-z0-9-]+)/health} or return (404, {}, 'no');
    open my $fh, '<', "$home/mode-$name" or return (404, {}, 'no mode');
    my $mode = <$fh> // 'up';
    close $fh;
    chomp $mode;
    if ($mode eq 'fail-once') {
        mode($name, 'up');
        return (500, {}, 'once');
    }
    return (200, { 'Content-Type' => 'application/json' }, '{"status":"up","checks":{"db":{"status":"up"}}}') if $mode eq 'up';
    return (200, { 'Content-Type' => 'application/json' }, '{"status":"degraded","checks":{"cache":{"status":"down"}}}') if $mode eq 'degraded';
    return (500, { 'Content-Type' => 'text/plain' }, 'internal error') if $mode eq 'down';
    return (200, { 'Content-Type' => 'text/html' }, '<html>It works!</html>') if $mode eq 'garbage';
    if ($mode eq 'slow') { sleep 4; return (200, {}, '{"status":"up"}') }
    return (418, {}, 'unknown mode');
});

# The webhook receiver refuses its first delivery, so lgspd must retry.
my $hook = $t->upstream(sub {
    my ($req) = @_;
    open my $c, '>>', "$home/hook-requests"; print $c "1\n"; close $c;
    my @n = split /\n/, $t->slurp("$home/hook-requests");
    return (503, {}, 'try later') if @n == 1;
    open my $fh, '>>', "$home/hook-bodies" or die; print $fh $req->{body}, "\n"; close $fh;
    return (200, {}, 'ok');
});

$t->lgspd_conf(health_timeout_ms => 1000, health_fail_threshold => 3, health_ok_threshold => 2,
               health_flush_s => 1, health_webhook => "$hook->{url}/hook");

# --- the registry rows the poller reads ------------------------------------
# Made with SQL behind one helper, to be replaced by `lgspctl agency|system|
# service add` once those verbs exist.
sub registry {
    my ($sql) = @_;
    system('sqlite3', "$home/lgsp.db", $sql) == 0 or die "sqlite3: $sql";
}
my $now = time;
registry("INSERT INTO agencies (code, name, created_at) VALUES ('H26.107', 'Sở KH&CN', $now);"
       . "INSERT INTO agency_codes (code, agency_id, kind) VALUES ('H26.107', 1, 'canonical');");
sub add_system {
    my ($ident, $url) = @_;
    my $u = defined $url ? "'$url'" : 'NULL';
    registry("INSERT INTO systems (ident, agency_id, name, health_url, poll_interval, created_at)"
           . " VALUES ('$ident', 1, 'System $ident', $u, 1, $now)");
}
sub add_version {
    my ($system, $code, $version, $url) = @_;
    registry("INSERT INTO services (code, provider_system_id, name, created_at)"
           . " SELECT '$code', id, 'Service $code', $now FROM systems WHERE ident = '$system';"
           . "INSERT INTO versions (service_id, version, upstream, health_url, created_at)"
           . " SELECT id, '$version', 'http://127.0.0.1:9/', '$url', $now FROM services WHERE code = '$code'");
}

my $u = $targets->{url};
mode($_->[0], $_->[1]) for ['sys-up', 'up'], ['sys-down', 'down'], ['sys-slow', 'slow'],
    ['sys-garbage', 'garbage'], ['sys-degraded', 'degraded'], ['sys-flip', 'up'],
    ['sys-once', 'up'], ['svc-a', 'down'];
add_system($_, "$u/$_/health") for qw(sys-up sys-down sys-slow sys-garbage sys-degraded sys-flip sys-once);
add_system('sys-none', undef);
add_version('sys-up', 'svc-a', 'v1', "$u/svc-a/health");

$t->start_lgspd;
$t->start_nginx;
ok($t->wait_ready, 'LGSP ready');

sub sec { my ($h, $m, $s) = $_[0] =~ /T(\d\d):(\d\d):(\d\d)/; $h * 3600 + $m * 60 + $s }

sub show {
    my ($rc, $out, $err) = $t->ctl('health', 'show', '--json');
    return {} if $rc != 0;
    my $doc = eval { decode_json($out) } or return {};
    return { map { $_->{target} => $_ } @{ $doc->{targets} } };
}
sub state_of { (show()->{$_[0]} // {})->{state} // 'none' }
sub wait_state {
    my ($target, $want, $secs) = @_;
    return $t->wait_until(sub { state_of($target) eq $want }, $secs // 20);
}
sub history {
    my ($target, @more) = @_;
    my ($rc, $out) = $t->ctl('health', 'history', $target, '--json', @more);
    return $rc == 0 ? decode_json($out) : undef;
}
sub incidents {
    my ($rc, $out) = $t->ctl('incident', 'list', '--json');
    return $rc == 0 ? decode_json($out)->{incidents} : [];
}
sub hooks {
    return [ map { decode_json($_) } grep { length } split /\n/, $t->slurp("$home/hook-bodies") ];
}

# --- the four kinds of answer ---------------------------------------------
ok(wait_state('sys-up', 'up'), 'a 2xx {"status":"up"} is up');
ok(wait_state('sys-down', 'down'), 'a 500 goes down after the failure threshold');
ok(wait_state('sys-slow', 'down'), 'an endpoint slower than the timeout goes down');
ok(wait_state('sys-garbage', 'degraded'), 'a 2xx that is not the agreed shape is degraded');
ok(wait_state('sys-degraded', 'degraded'), 'an agency reporting "degraded" is degraded');
ok(wait_state('svc-a/v1', 'down'), 'a level-2 URL of a service version is polled too');

# results reach health.db every health_flush_s (1 s here)
sleep 1.5;
my $s = show();
is($s->{'sys-down'}{http}, 500, 'the 500 is recorded');
like($s->{'sys-down'}{reason}, qr/HTTP 500/, 'reason names the status');
like($s->{'sys-slow'}{reason}, qr/^timeout/, 'reason names the timeout');
like($s->{'sys-garbage'}{reason}, qr/bad_body/, 'reason names the bad body');
is($s->{'sys-up'}{level}, 1, 'a system URL is level 1');
is($s->{'svc-a/v1'}{level}, 2, 'a version URL is level 2');
is($s->{'svc-a/v1'}{system}, 'sys-up', 'a version is polled as part of its provider system');
is($s->{'sys-up'}{agency}, 'H26.107', 'the agency code is shown');
ok(!exists $s->{'sys-none'}, 'a system without a health URL is not polled');

# A hanging endpoint holds only its own transfer: meanwhile the quick one
# was checked at its 1 s interval (each slow check takes the full 1 s).
my $h = history('sys-up', '--raw');
my @slow = grep { $_->{reason} eq 'timeout' } @{ history('sys-slow', '--raw')->{results} };
cmp_ok(scalar @slow, '>=', 3, 'the slow endpoint timed out at least 3 times');
my ($from, $to) = ($slow[0]{at}, $slow[-1]{at});
my @quick = grep { $_->{at} ge $from && $_->{at} le $to } @{ $h->{results} };
my $span = sec($to) - sec($from);
cmp_ok(scalar @quick, '>=', $span - 1,
       "meanwhile the quick endpoint was checked every second ($span s)")
    or diag(explain([ map { $_->{at} } @{ $h->{results} } ], [ map { $_->{at} } @slow ]));
ok(!(grep { $_->{result} ne 'up' } @{ $h->{results} }), 'and every one of its checks was up');

# --- hysteresis ------------------------------------------------------------
# One failure among successes does not make a target down.
mode('sys-once', 'fail-once');
ok($t->wait_until(sub { !-e "$home/mode-sys-once" || $t->slurp("$home/mode-sys-once") eq 'up' }, 10),
   'the single failure was served');
sleep 2.5;
my $once = history('sys-once', '--raw');
ok((grep { $_->{result} eq 'down' && $_->{http} == 500 } @{ $once->{results} }), 'the failure is in the raw results');
is(state_of('sys-once'), 'up', 'one failure does not make a target down');
ok(!(grep { $_->{to} eq 'down' } @{ $once->{state_changes} }), 'no state change to down');

# Going down took three failures in a row; recording it in raw results
# shows it: the checks just before the change were all failures.
sub checks_before {
    my ($hist, $to) = @_;
    my ($change) = (grep { $_->{to} eq $to } @{ $hist->{state_changes} })[-1] or return ();
    my @before = grep { $_->{at} le $change->{at} } @{ $hist->{results} };
    return @before;
}

# --- an incident opened and closed, with the webhook -----------------------
mode('sys-flip', 'down');
ok(wait_state('sys-flip', 'down'), 'sys-flip goes down');
sleep 1.5;
my @down = checks_before(history('sys-flip', '--raw'), 'down');
my @last3 = @down[-3 .. -1];
is(scalar(grep { $_->{result} eq 'down' } @last3), 3, 'three failures in a row before down');
ok((grep { $_->{result} eq 'up' } @down), 'after being up');

my ($open) = grep { $_->{target} eq 'sys-flip' } @{ incidents() };
ok($open, 'an incident is open for sys-flip');
is($open->{closed}, undef, 'not closed yet');
is($open->{agency}, 'H26.107', 'the incident names the agency');

ok($t->wait_until(sub { grep { $_->{event} eq 'open' && $_->{system} eq 'sys-flip' } @{ hooks() } }, 15),
   'the webhook got the open notification (after a refused first try)');
my ($wo) = grep { $_->{event} eq 'open' && $_->{system} eq 'sys-flip' } @{ hooks() };
is($wo->{agency}{code}, 'H26.107', 'webhook: identity code');
is($wo->{agency}{name}, Encode::decode('UTF-8', 'Sở KH&CN'), 'webhook: agency name');
is($wo->{incident}, $open->{id}, 'webhook: incident id');
is($wo->{level}, 1, 'webhook: level');
like($wo->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'webhook: time');
like($wo->{reason}, qr/HTTP 500/, 'webhook: reason');
my @reqs = split /\n/, $t->slurp("$home/hook-requests");
cmp_ok(scalar @reqs, '>', scalar @{ hooks() }, 'a refused delivery was retried');

mode('sys-flip', 'up');
ok(wait_state('sys-flip', 'up'), 'sys-flip comes back up');
sleep 1.5;
my @up = checks_before(history('sys-flip', '--raw'), 'up');
is(scalar(grep { $_->{result} eq 'up' } @up[-2 .. -1]), 2, 'two successes in a row before up');
my ($closed) = grep { $_->{id} == $open->{id} } @{ incidents() };
ok(defined $closed->{closed}, 'the incident is closed');
cmp_ok($closed->{duration_s}, '>=', 1, 'with its duration');
ok($t->wait_until(sub { grep { $_->{event} eq 'close' && $_->{incident} == $open->{id} } @{ hooks() } }, 15),
   'the webhook got the close notification');
my ($wc) = grep { $_->{event} eq 'close' && $_->{incident} == $open->{id} } @{ hooks() };
ok(defined $wc->{duration_s}, 'close notification has the duration');

ok($t->wait_until(sub { grep { $_->{event} eq 'open' && ($_->{service} // '') eq 'svc-a' } @{ hooks() } }, 15),
   'a level-2 incident is notified');
my ($wv) = grep { $_->{event} eq 'open' && ($_->{service} // '') eq 'svc-a' } @{ hooks() };
is($wv->{version}, 'v1', 'naming the version');
is($wv->{system}, 'sys-up', 'and the provider system');
is($wv->{level}, 2, 'at level 2');

# --- history: per-minute summaries ----------------------------------------
my $hd = history('sys-down');
ok(@{ $hd->{minutes} }, 'per-minute summaries are recorded');
my ($checks, $fails) = (0, 0);
for (@{ $hd->{minutes} }) { $checks += $_->{checks}; $fails += $_->{failures} }
cmp_ok($checks, '>=', 3, 'summaries count the checks');
is($fails, $checks, 'every check of a 500 endpoint is a failure');
is($hd->{state_changes}[0]{from}, 'unknown', 'first state change from unknown');
is($hd->{state_changes}[0]{to}, 'down', 'to down');
my $hu = history('sys-up');
ok(!(grep { $_->{failures} } @{ $hu->{minutes} }), 'no failures for the up endpoint');

my ($rc, $out, $err) = $t->ctl('health', 'history', 'sys-up');
is($rc, 0, 'history as a table');
like($out, qr/MINUTE\s+CHECKS\s+FAILURES\s+AVG MS\s+MAX MS/, 'with its header');
($rc, $out) = $t->ctl('health', 'show', 'sys-up');
is($rc, 0, 'health show SYSTEM');
like($out, qr/^sys-up\s+1\s+H26\.107\s+up/m, 'shows the system');
like($out, qr/^svc-a\/v1\s+2\s+H26\.107\s+down/m, 'and its service versions');
unlike($out, qr/sys-down/, 'and nothing else');
($rc, $out) = $t->ctl('incident', 'list');
is($rc, 0, 'incident list as a table');
like($out, qr/sys-flip.*H26\.107/, 'lists the incident');

# refusals and bad usage
($rc, undef, $err) = $t->ctl('health', 'show', 'sys-none');
is($rc, 1, 'health show of a system not polled is refused');
like($err, qr/^lgspctl: sys-none: not polled/, 'and says why');
($rc, undef, $err) = $t->ctl('health', 'history', 'nope/v9');
is($rc, 1, 'history of an unknown target is refused');
like($err, qr/^lgspctl: nope\/v9: no connection status recorded/, 'and says why');
($rc, undef, $err) = $t->ctl('health', 'history', 'sys-up', '--since', 'yesterday');
is($rc, 2, 'a bad --since is bad usage');
like($err, qr/--since: "yesterday" is not an ISO 8601 time/, 'and says why');
my $old = history('sys-up', '--since', '2000-01-01T00:00');
ok($old && @{ $old->{minutes} }, '--since in the city time is accepted');
my $future = history('sys-up', '--since', '2999-01-01T00:00:00Z');
is(scalar @{ $future->{minutes} }, 0, '--since in the future shows nothing');
($rc) = $t->ctl('health', 'frobnicate');
is($rc, 2, 'unknown health verb is bad usage');
($rc) = $t->ctl('incident', 'list', 'extra');
is($rc, 2, 'incident list takes no argument');

# --- registry changes are picked up (data_version) -----------------------
mode('sys-new', 'up');
add_system('sys-new', "$u/sys-new/health");
ok(wait_state('sys-new', 'up', 10), 'a system added while lgspd runs is polled');
registry("UPDATE systems SET health_url = NULL WHERE ident = 'sys-garbage'");
ok($t->wait_until(sub { !exists show()->{'sys-garbage'} }, 10), 'a system whose health URL is removed is no longer polled');
ok(history('sys-garbage'), 'its history is kept');

# --- lgspd restart keeps the state, opens no new incident ----------------
my $nincidents = @{ incidents() };
$t->stop_lgspd('TERM');
$t->start_lgspd;
ok($t->wait_ready(10), 'ready after restarting lgspd');
sleep 3;
is(state_of('sys-down'), 'down', 'a down target is still down after a restart');
is(scalar @{ incidents() }, $nincidents, 'and no incident was opened again');

# --- the platform's own health through nginx ------------------------------
my $r = $t->http('GET', '/lgsp/health');
is($r->{status}, 200, '/lgsp/health answers 200');
is($r->{headers}{'content-type'}, 'application/json', 'as JSON');
is_deeply(decode_json($r->{content}), { status => 'up' }, 'level 1: {"status":"up"}');

$r = $t->http('GET', '/lgsp/health/services');
is($r->{status}, 200, '/lgsp/health/services answers 200');
my $l2 = decode_json($r->{content});
like($l2->{status}, qr/^(up|degraded)$/, 'level 2 has an overall status');
is($l2->{checks}{registry_db}{status}, 'up', 'registry database reachable');
is($l2->{checks}{health_db}{status}, 'up', 'health database reachable');
is($l2->{checks}{poller}{status}, 'up', 'poller up');
like($l2->{checks}{poller}{lag_ms}, qr/^\d+$/, 'poller lag in ms');
is($l2->{checks}{poller}{targets}, 8, 'poller counts its targets (7 systems, 1 version)');
cmp_ok($l2->{checks}{poller}{targets_down}, '>=', 2, 'and those down');
ok(exists $l2->{checks}{audit_spool}{backlog}, 'spool backlog slot');
ok(exists $l2->{checks}{snapshot}{age_s}, 'snapshot age');
my %rank = (up => 0, degraded => 1, down => 2);
my ($worst) = sort { $rank{$b} <=> $rank{$a} } map { $_->{status} } values %{ $l2->{checks} };
is($l2->{status}, $worst, 'overall status is the worst of the checks');

$r = $t->http('POST', '/lgsp/health');
is($r->{status}, 405, 'POST /lgsp/health is refused');

# lgspd refuses a bad health setting with file:line
my $bad = "$home/bad-lgspd.conf";
open my $fh, '>', $bad or die; print $fh "health_timeout_ms 5\n"; close $fh;
my $o = `$LGSP::Test::LGSPD -H $home -c $bad -t 2>&1`;
is($? >> 8, 1, 'lgspd refuses health_timeout_ms 5');
like($o, qr/^\Q$bad\E:1: health_timeout_ms: health_timeout_ms must be between 100 and 60000/, 'file:line: message');
open $fh, '>', $bad or die; print $fh "health_summary_days 30\n"; close $fh;
$o = `$LGSP::Test::LGSPD -H $home -c $bad -t 2>&1`;
like($o, qr/:1: health_summary_days: health_summary_days must be between 90/, 'summaries are kept at least 90 days');

$t->stop;
done_testing;
