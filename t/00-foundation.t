#!/usr/bin/perl
# Foundation: the module loads into stock nginx, `nginx -t` names bad
# lgsp_* arguments, /lgsp/status answers, lgspd starts and stops cleanly.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use LGSP::Test;

my $t = LGSP::Test->new(workers => 2);

my $s = $t->get_json('/lgsp/status');
ok($s->{ready}, 'ready once lgspd answers');
ok($s->{lgspd}, 'lgspd answers');
like($s->{module_version}, qr/^\d+\.\d+\.\d+$/, 'module version');
like($s->{pid}, qr/^\d+$/, 'worker pid');
cmp_ok($s->{generation}, '>=', 1, 'lgspd published a snapshot at start and the worker serves it');

my $r = $t->http('GET', '/lgsp/status');
is($r->{headers}{'content-type'}, 'application/json', 'status is JSON');

# lgspctl status sees the running daemon
my $st = JSON::PP::decode_json($t->ctl_ok('status', '--json'));
ok($st->{lgspd_running}, 'lgspctl status sees lgspd');
is($st->{counts}{keys}, 1, 'init made the first signing key');
ok(-f "$t->{home}/keys/pepper", 'pepper in keys/');
is((stat "$t->{home}/keys")[2] & 0777, 0700, 'keys/ is 0700');

# lgspd stops: ready goes false, nginx keeps answering
$t->stop_lgspd('TERM');
is($? >> 8, 0, 'lgspd exits 0 on SIGTERM');
ok(!-e "$t->{home}/run/lgspd.sock", 'socket removed');
$s = $t->get_json('/lgsp/status');
ok(!$s->{ready}, 'not ready without lgspd');
my ($wrc, undef, $werr) = $t->ctl('agency', 'add', 'H26.200', '--name', 'Thu');
is($wrc, 0, 'a change while lgspd is down is still made');
like($werr, qr/warning: lgspd is not running/, 'and lgspctl warns that it is not live yet');
(undef, undef, $werr) = $t->ctl('agency', 'list');
unlike($werr, qr/warning/, 'reading warns of nothing');
$t->start_lgspd;
ok($t->wait_ready(5), 'ready again after restart');
(undef, undef, $werr) = $t->ctl('agency', 'add', 'H26.201', '--name', 'Thu 2');
unlike($werr, qr/warning/, 'no warning while lgspd runs');

# nginx -t names the directive and the value
my $conf = $t->slurp("$t->{home}/nginx/nginx.conf");
for my $case (
    [ 'lgsp_environment production;', 'lgsp_environment prod;', qr/invalid value "prod" in "lgsp_environment"/ ],
    [ 'lgsp_gateway on;', 'lgsp_gateway maybe;', qr/invalid value "maybe" in "lgsp_gateway"/ ],
    [ "lgsp_home $t->{home};", 'lgsp_home relative/path;', qr/invalid value "relative\/path" in "lgsp_home"/ ],
    [ "lgsp_home $t->{home};", "lgsp_home $t->{home}/nope;", qr/"lgsp_home" directive, it is not a directory/ ],
    [ 'lgsp_status;', 'lgsp_status extra;', qr/invalid number of arguments in "lgsp_status"/ ],
) {
    my ($from, $to, $want) = @$case;
    (my $bad = $conf) =~ s/\Q$from\E/$to/;
    isnt($bad, $conf, "made a config with '$to'");
    my $f = "$t->{home}/nginx/bad.conf";
    open my $fh, '>', $f or die; print $fh $bad; close $fh;
    my ($rc, $out) = $t->nginx_run('-t', '-p', "$t->{home}/nginx", '-c', $f,
                                   '-e', '/dev/stderr');
    isnt($rc, 0, "nginx -t refuses '$to'");
    like($out, $want, "nginx -t names it: '$to'");
}

# lgspd refuses a bad config with file:line
my $bad = "$t->{home}/bad-lgspd.conf";
open my $fh, '>', $bad or die; print $fh "issuer https://x\ntoken_lifetime 1\n"; close $fh;
my $out = `$LGSP::Test::LGSPD -H $t->{home} -c $bad 2>&1`;
is($? >> 8, 1, 'lgspd refuses a bad config');
like($out, qr/^\Q$bad\E:2: token_lifetime/, 'file:line: message');

# lgspctl: unknown command is bad usage
my ($rc, undef, $err) = $t->ctl('frobnicate');
is($rc, 2, 'unknown command exits 2');
like($err, qr/^lgspctl: unknown command "frobnicate"/, 'and says so');

$t->stop;
done_testing;
