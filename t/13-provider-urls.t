#!/usr/bin/perl
# Where a provider's URLs may point (issue 26, item 7; docs/operator-guide.md
# "Where provider URLs may point"): lgspctl refuses upstream and health URLs
# at link-local, metadata and unspecified addresses in every spelling unless
# the system is allowed with --allow-link-local, which the change log
# records; at run time the health poller will not send a check to such an
# address (a redirect there included) and the snapshot leaves an upstream
# that resolves there unresolved (502), unless the system is allowed.
#
# Nothing here connects to 169.254.0.0/16: a metadata service may really
# answer there.  The allowed cases use 0.0.0.0, which on Linux reaches this
# host itself — the test's own upstream, and the point of refusing it.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use Test::More;
use LGSP::Test;
use LGSP::Demo;

my $t = LGSP::Test->new(start => 0);
my $home = $t->home;
$t->lgspd_conf(health_timeout_ms => 1000, health_fail_threshold => 1, health_ok_threshold => 1);

# Health checks and calls land here; /redirect sends the caller to this
# same server through 0.0.0.0 (the port from the Host header: the handler
# runs in a child forked before the port is known to this file).
my $up = $t->upstream(sub {
    my ($req) = @_;
    my ($port) = ($req->{headers}{host} // '') =~ /:(\d+)$/;
    return (302, { Location => "http://0.0.0.0:$port/health" }, '')
        if $req->{uri} =~ m{^/redirect};
    return (200, { 'Content-Type' => 'application/json' }, '{"status":"up"}')
        if $req->{uri} =~ m{/health};
    return (200, { 'Content-Type' => 'application/json' },
            encode_json({ reached => $req->{uri} }));
});
my $u = $up->{url};
my $p = $up->{port};
$t->start_lgspd;
$t->start_nginx;
ok($t->wait_ready, 'LGSP ready');
my $d = LGSP::Demo::build($t, upstream => $up);

sub json { my (@args) = @_; return decode_json($t->ctl_ok(@args, '--json')) }
sub sql {
    my ($q) = @_;
    my $out = `sqlite3 -batch -noheader '$home/lgsp.db' "$q" 2>&1`;
    chomp $out;
    return $out;
}
sub system_of { my ($id) = @_; (grep { $_->{id} eq $id } @{ json('system', 'list') })[0] }
sub log_since {
    my ($n) = @_;
    my $all = json('log');
    return [ @$all[$n .. $#$all] ];
}

# --- lgspctl refuses every spelling ----------------------------------------
my @bad = (
    [ 'http://169.254.169.254/latest/meta-data/', 'link-local', '169.254.169.254' ],
    [ 'http://2852039166/',                       'link-local', '169.254.169.254' ],
    [ 'http://0xa9fea9fe/',                       'link-local', '169.254.169.254' ],
    [ 'http://0xa9.0xfe.0xa9.0xfe/',              'link-local', '169.254.169.254' ],
    [ 'http://0251.0376.0251.0376/',              'link-local', '169.254.169.254' ],
    [ 'http://169.254.43518/',                    'link-local', '169.254.169.254' ],
    [ 'http://169.254.169.254./',                 'link-local', '169.254.169.254' ],
    [ 'http://%31%36%39.254.169.254/',            'link-local', '169.254.169.254' ],
    [ 'http://[::ffff:a9fe:a9fe]/',               'link-local', '::ffff:169.254.169.254' ],
    [ 'http://[::ffff:169.254.169.254]:80/',      'link-local', '::ffff:169.254.169.254' ],
    [ 'http://[fe80::1%25eth0]:8080/',            'link-local', 'fe80::1' ],
    [ 'http://[fd00:ec2::254]/',                  'a cloud metadata service', 'fd00:ec2::254' ],
    [ 'http://0.0.0.0:8080/',                     'unspecified', '0.0.0.0' ],
    [ 'http://0/',                                'unspecified', '0.0.0.0' ],
    [ 'http://[::]:8080/',                        'unspecified', '::' ],
);
for my $b (@bad) {
    my ($url, $class, $addr) = @$b;
    $t->ctl_refused(qr/system add: --health-url \Q$url\E: \Q$addr\E is \Q$class\E.*--allow-link-local/,
                    'system', 'add', 'sys-x', '--agency', 'H26.107', '--name', 'X',
                    '--health-url', $url);
}
is(sql("SELECT count(*) FROM systems WHERE ident = 'sys-x'"), 0, 'no system added');

for my $opt ('--upstream', '--sandbox-upstream', '--health-url') {
    $t->ctl_refused(qr/service set: \Q$opt\E http:\/\/2852039166\/: 169\.254\.169\.254 is link-local/,
                    'service', 'set', 'citizen/v1', $opt, 'http://2852039166/');
    $t->ctl_refused(qr/service version add: \Q$opt\E http:\/\/\[::\]\/: :: is unspecified/,
                    'service', 'version', 'add', 'citizen/v2', '--upstream', "$u/v2",
                    $opt, 'http://[::]/');
    $t->ctl_refused(qr/service add: \Q$opt\E http:\/\/0x0\/: 0\.0\.0\.0 is unspecified/,
                    'service', 'add', 'other', '--provider', 'prov-sys', '--name', 'O',
                    '--upstream', "$u/o", $opt, 'http://0x0/');
}
is(sql("SELECT upstream || ' ' || ifnull(sandbox_upstream, '-') || ' ' || ifnull(health_url, '-')"
       . " FROM versions WHERE version = 'v1'"), "$u/base $u/sbx -", 'citizen/v1 keeps its URLs');
is(sql("SELECT count(*) FROM versions WHERE version = 'v2'"), 0, 'no version added');
is(sql("SELECT count(*) FROM services WHERE code = 'other'"), 0, 'no service added');

# Form 01: its URLs pass the same checks
my $form = decode_json($t->slurp('t/fixtures/forms/valid/form01-citizens.json'));
$form->{provider} = 'prov-sys';
$form->{agency}{code} = 'H26.107';
$form->{service}{code} = 'from-form';
$form->{service}{health_url} = 'http://[::ffff:169.254.169.254]/health';
open my $ff, '>', "$home/form01.json" or die;
print $ff encode_json($form);
close $ff;
$t->ctl_refused(qr/service add: --health-url .*::ffff:169\.254\.169\.254 is link-local/,
                'service', 'add', '--form', "$home/form01.json");

# the flag goes with a URL it allows
$t->ctl_bad(qr/--allow-link-local goes with the URL it allows/,
            'service', 'set', 'citizen/v1', '--rate', '5/s', '--allow-link-local');
$t->ctl_bad(qr/not both/, 'system', 'set', 'prov-sys', '--allow-link-local',
            '--no-allow-link-local');
ok(!system_of('prov-sys')->{allow_link_local}, 'prov-sys is not allowed');

# --- the flag, recorded ------------------------------------------------------
my $n = scalar @{ json('log') };
$t->ctl_ok('service', 'set', 'citizen/v1', '--sandbox-upstream', "http://0.0.0.0:$p/sbx",
           '--allow-link-local');
my $log = log_since($n);
is(scalar @$log, 2, 'two change-log entries');
is("$log->[0]{object} $log->[0]{action}", 'system:prov-sys allow-link-local',
   'first: the system allowed');
is($log->[0]{operator}, 'test-operator', 'by the operator');
ok(!$log->[0]{before}{allow_link_local} && $log->[0]{after}{allow_link_local},
   'before: not allowed; after: allowed');
is("$log->[1]{object} $log->[1]{action}", 'version:citizen/v1 set', 'then the version set');
is($log->[1]{after}{sandbox_upstream}, "http://0.0.0.0:$p/sbx", 'with the URL');
like($t->ctl_ok('log'), qr/system:prov-sys  allow-link-local/, 'lgspctl log shows it');
ok(system_of('prov-sys')->{allow_link_local}, 'system list: allow_link_local true');
# the permission is the system's: its next URL there needs no flag
$t->ctl_ok('service', 'version', 'add', 'citizen/v2', '--upstream', "http://0.0.0.0:$p/v2");

# taking it back is refused while a URL needs it
$t->ctl_refused(qr/system set: citizen\/v\d --(sandbox-)?upstream http:\/\/0\.0\.0\.0:$p\/(sbx|v2): .*change that URL first/,
                'system', 'set', 'prov-sys', '--no-allow-link-local');
$t->ctl_ok('service', 'set', 'citizen/v1', '--sandbox-upstream', 'none');
$t->ctl_refused(qr/citizen\/v2 --upstream/, 'system', 'set', 'prov-sys', '--no-allow-link-local');
$t->ctl_ok('service', 'set', 'citizen/v2', '--upstream', "$u/v2");
$n = scalar @{ json('log') };
$t->ctl_ok('system', 'set', 'prov-sys', '--no-allow-link-local');
$log = log_since($n);
is("$log->[0]{object} $log->[0]{action}", 'system:prov-sys refuse-link-local',
   'taken back, recorded');
ok(!system_of('prov-sys')->{allow_link_local}, 'prov-sys is not allowed again');
$t->ctl_refused(qr/link-local/, 'service', 'set', 'citizen/v2', '--upstream',
                'http://169.254.169.254/');

# system add and system set carry the flag too
$n = scalar @{ json('log') };
$t->ctl_ok('system', 'add', 'sys-meta', '--agency', 'H26.107', '--name', 'Allowed',
           '--health-url', "http://0.0.0.0:$p/health", '--poll-interval', '1',
           '--allow-link-local');
$log = log_since($n);
is(join(', ', map { "$_->{object} $_->{action}" } @$log),
   'system:sys-meta add, system:sys-meta allow-link-local', 'system add: added, then allowed');
$t->ctl_ok('system', 'add', 'sys-plain', '--agency', 'H26.107', '--name', 'Plain');
$t->ctl_refused(qr/system set: --health-url http:\/\/0\/: 0\.0\.0\.0 is unspecified/,
                'system', 'set', 'sys-plain', '--health-url', 'http://0/');
$t->ctl_ok('system', 'set', 'sys-plain', '--health-url', "$u/redirect", '--poll-interval', '1');
is(system_of('sys-plain')->{health_url}, "$u/redirect", 'system set: the health URL');
is(system_of('sys-plain')->{poll_interval}, 1, 'and the interval');

# --- run time: health checks -------------------------------------------------
# sys-plain's URL is fine, but it redirects to 0.0.0.0; sys-redir is the
# same URL on an allowed system; sys-meta points at 0.0.0.0 itself.
$t->ctl_ok('system', 'add', 'sys-redir', '--agency', 'H26.107', '--name', 'Redirected',
           '--health-url', "$u/redirect", '--poll-interval', '1', '--allow-link-local');
sub show {
    my ($rc, $out) = $t->ctl('health', 'show', '--json');
    my $doc = $rc == 0 ? eval { decode_json($out) } : undef;
    return { map { $_->{target} => $_ } @{ ($doc // {})->{targets} // [] } };
}
ok($t->wait_until(sub {
    my $s = show();
    # the state is written at once, the last check's reason within 2 s
    ($s->{'sys-plain'}{state} // '') eq 'down' && defined $s->{'sys-plain'}{reason}
        && ($s->{'sys-redir'}{state} // '') eq 'up'
        && ($s->{'sys-meta'}{state} // '') eq 'up';
}, 20), 'health: the redirect to 0.0.0.0 is refused for sys-plain, followed for the allowed')
    or diag(explain(show()));
like(show()->{'sys-plain'}{reason} // '',
     qr/^connect: refused: 0\.0\.0\.0 is unspecified .*system sys-plain is not allowed there/,
     'the reason says why');

# taking the permission back stops the checks at once (the next reload of
# the targets), though lgspctl cannot see where a redirect goes
$t->ctl_ok('system', 'set', 'sys-redir', '--no-allow-link-local');
ok($t->wait_until(sub { (show()->{'sys-redir'}{state} // '') eq 'down' }, 20),
   'sys-redir refused once no longer allowed');

# --- run time: the data path ---------------------------------------------
# A name that resolves to such an address passes lgspctl (only its spelling
# is seen there).  No name on a test host resolves to 0.0.0.0, so the
# registry is written directly with the literal: getaddrinfo in the
# snapshot compiler gives the address either way.
my $tok = $d->token('production');
sub call { $t->http('GET', $_[0], headers => { Authorization => "Bearer $tok" }) }
is(call('/api/citizen/v1/x')->{status}, 200, 'the call reaches the provider');
my $gen = $t->published_generation;
sql("UPDATE versions SET upstream = 'http://0.0.0.0:$p/meta' WHERE version = 'v1'");
$t->settle($gen);
my $r = call('/api/citizen/v1/x');
is($r->{status}, 502, 'an upstream resolving to 0.0.0.0: 502') or diag($r->{content});
is(eval { decode_json($r->{content})->{error} }, 'upstream_error', '  upstream_error');
like($t->slurp("$home/lgspd.out"),
     qr/snapshot: upstream host 0\.0\.0\.0 is 0\.0\.0\.0, unspecified .*not allowed there/,
     'lgspd says why');
$t->ctl_ok('system', 'set', 'prov-sys', '--allow-link-local');
$r = call('/api/citizen/v1/x');
is($r->{status}, 200, 'allowed: the call goes through') or diag($r->{content});
is(eval { decode_json($r->{content})->{reached} }, '/meta/x', '  to where it points');

$t->stop;
done_testing;
