#!/usr/bin/perl
# Privilege separation and secrets at rest (issue 16; docs/operator-guide.md
# "Users, groups and modes").  The platform runs as under the systemd units:
# lgspd and lgspctl as lgsp, which owns the home, the nginx master as root,
# its workers as lgsp-gw.  The workers read snapshots and write the spool but
# cannot read keys/ or write a database; an unrelated user (nobody) reads no
# secret, whatever the umask (000 here) the operator ran lgspctl init with.
use strict;
use warnings;
use lib 't/lib';
use Errno qw(EACCES);
use Fcntl qw(O_RDONLY O_WRONLY O_RDWR O_CREAT O_EXCL);
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Socket qw(SOCK_STREAM);
use Test::More;
use LGSP::Test;
use LGSP::Demo;

plan skip_all => 'needs root: the workers change user only when the nginx'
    . ' master starts as root, and the test changes users' if $> != 0;
for my $u (qw(lgsp lgsp-gw nobody)) {
    plan skip_all => "no user $u (scripts/setup, run as root, creates lgsp"
        . ' and lgsp-gw)' unless defined getpwnam($u);
}
my $GW_UID = (getpwnam('lgsp-gw'))[2];
my $GW_GID = (getgrnam('lgsp-gw'))[2];

# --- probes, run in a child that has become another user ----------------
# Each probe returns 0 when the operation succeeded, else its errno.
sub can_read   { my $p = shift; sub { sysopen(my $fh, $p, O_RDONLY) ? 0 : $! + 0 } }
sub can_write  { my $p = shift; sub { sysopen(my $fh, $p, O_WRONLY) ? 0 : $! + 0 } }
sub can_rdwr   { my $p = shift; sub { sysopen(my $fh, $p, O_RDWR) ? 0 : $! + 0 } }
sub can_list   { my $p = shift; sub { opendir(my $dh, $p) ? 0 : $! + 0 } }
sub can_create {
    my $dir = shift;
    sub {
        my $f = "$dir/.probe-$$";
        sysopen(my $fh, $f, O_WRONLY | O_CREAT | O_EXCL, 0600) or return $! + 0;
        close $fh;
        unlink $f;
        return 0;
    };
}
sub can_connect {
    my $p = shift;
    sub { IO::Socket::UNIX->new(Peer => $p, Type => SOCK_STREAM) ? 0 : $! + 0 };
}

# as($user, name => probe, ...): { name => errno or 0 }, the probes run by
# a child with $user's uid, primary group and supplementary groups.
sub as {
    my ($user, %probe) = @_;
    my (undef, undef, $uid, $gid) = getpwnam($user);
    my @groups = ($gid);
    while (my @g = getgrent) {
        push @groups, $g[2] if grep { $_ eq $user } split / /, $g[3];
    }
    endgrent;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        $) = join ' ', $gid, @groups;          # egid, then setgroups()
        POSIX::setgid($gid) && POSIX::setuid($uid) or POSIX::_exit(90);
        POSIX::_exit(91) if $< != $uid || $> != $uid || grep { $_ == 0 } split / /, $);
        print $w "$_ " . $probe{$_}->() . "\n" for sort keys %probe;
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my %res = map { split / / } grep { length } split /\n/, do { local $/; <$r> // '' };
    waitpid $pid, 0;
    is($? >> 8, 0, "probes ran as $user") or diag("child exit " . ($? >> 8));
    return \%res;
}

sub refused {
    my ($res, $name, $what) = @_;
    is($res->{$name}, EACCES, "$what: EACCES")
        or diag("$name: " . ($res->{$name} ? POSIX::strerror($res->{$name}) : 'succeeded'));
}
sub allowed {
    my ($res, $name, $what) = @_;
    is($res->{$name}, 0, $what)
        or diag("$name: " . POSIX::strerror($res->{$name} // 0));
}

# --- modes: each layer on its own, so a regression in one shows ------------
sub mode_of { my @s = lstat $_[0]; return @s ? ($s[2] & 07777, $s[5]) : (undef, undef) }

sub check_mode {
    my ($path, $mode, $gw, $what) = @_;
    my ($m, $g) = mode_of($path);
    is(defined $m ? sprintf('%04o', $m) : 'missing', sprintf('%04o', $mode), "$what is " . sprintf('%04o', $mode));
    is($g, $GW_GID, "  $what is in group lgsp-gw") if $gw;
}

sub secrets {
    my ($h) = @_;
    return (glob("$h/snapshots/*"), grep({ -e } map { ("$h/$_", "$h/$_-wal", "$h/$_-shm") } qw(lgsp.db audit.db health.db)),
            glob("$h/keys/*"), grep { -e } "$h/lgspd.conf");
}

sub check_layout {
    my ($h, $what) = @_;
    check_mode("$h$_->[0]", $_->[1], $_->[2], "$what: home$_->[0]")
        for ['', 0750, 1], ['/keys', 0700, 0], ['/snapshots', 02750, 1], ['/spool', 02770, 1],
            ['/run', 02750, 1], ['/run/workers', 02770, 1], ['/nginx', 0750, 1],
            ['/nginx/logs', 0750, 1], ['/nginx/tmp', 0750, 1], ['/catalog', 02750, 1],
            ['/archive', 0750, 0];
    check_mode($_, 0600, 0, "$what: " . s{.*/}{}r) for grep { /\.db(-wal|-shm)?$/ } secrets($h);
    check_mode($_, 0600, 0, "$what: keys/" . s{.*/}{}r) for glob "$h/keys/*";
    check_mode($_, 0640, 1, "$what: snapshots/" . s{.*/}{}r) for glob "$h/snapshots/*";
    check_mode($_, 0640, 0, "$what: " . s{.*/}{}r) for grep { -e } "$h/lgspd.conf", "$h/holidays.txt";
}

# nobody reads none of the secrets and cannot connect to lgspd: first with
# the home as it is (closed at its door), then with every folder opened
# to passers-by, so that the files' own modes are what refuse.
sub check_nobody {
    my ($h, $what) = @_;
    my @files = secrets($h);
    cmp_ok(scalar @files, '>=', 4, "$what: secrets to probe (@{[ scalar @files ]})");
    my %probe = map { ("r$_" => can_read($files[$_])) } 0 .. $#files;
    $probe{sock} = can_connect("$h/run/lgspd.sock") if -S "$h/run/lgspd.sock";
    for my $open (0, 1) {
        my @dirs = ($h, map { "$h/$_" } qw(keys snapshots run));
        my %was = map { $_ => (mode_of($_))[0] } @dirs;
        chmod $was{$_} | 0001, $_ for $open ? @dirs : ();
        my $res = as('nobody', %probe);
        chmod $was{$_}, $_ for $open ? @dirs : ();
        my $how = $open ? 'folders open to all' : 'as laid out';
        refused($res, "r$_", "$what ($how): nobody reads " . ($files[$_] =~ s{^\Q$h\E/}{}r)) for 0 .. $#files;
        refused($res, 'sock', "$what ($how): nobody connects to run/lgspd.sock") if $probe{sock};
    }
}

# --- a fresh home: lgspctl init under umask 000, run twice ---------------
my $fresh = tempdir('lgsp-t-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_NGINX_LEAVE});
{
    local $ENV{LGSP_HOME} = $fresh;
    local $ENV{LGSP_OPERATOR} = 'test-operator';
    my $old = umask 000;
    is(system("$LGSP::Test::CTL init >/dev/null"), 0, 'lgspctl init under umask 000');
    check_layout($fresh, 'fresh home');
    check_nobody($fresh, 'fresh home');

    # a home an older release (or a careless operator) left open is closed
    # again by init, keeping what is in it
    chmod 0755, $fresh, "$fresh/snapshots", "$fresh/run";
    chmod 0644, "$fresh/lgsp.db";
    open my $fh, '>', "$fresh/snapshots/snap.1" or die;
    print $fh "old snapshot\n";
    close $fh;
    chmod 0644, "$fresh/snapshots/snap.1";
    is(system("$LGSP::Test::CTL init >/dev/null"), 0, 'lgspctl init again');
    check_layout($fresh, 'home made again');
    umask $old;
}
my $err = `LGSP_HOME=$fresh $LGSP::Test::CTL init --gateway-group no-such-group-x 2>&1`;
is($? >> 8, 1, 'init refuses an unknown gateway group');
like($err, qr/^lgspctl: init: --gateway-group no-such-group-x: no such group/m, '  and says so');

# --- the platform, every process started under umask 000 ----------------
umask 000;
my $t = LGSP::Test->new(workers => 2, control_user => 'lgsp');
my $h = $t->home;
my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);

# who runs what
my @workers;
for my $st (glob '/proc/[0-9]*/status') {
    open my $fh, '<', $st or next;
    my %f = map { /^(\w+):\s*(.*?)\s*$/ ? ($1, $2) : () } <$fh>;
    push @workers, \%f if ($f{PPid} // -1) == $t->nginx_pid;
}
is(scalar @workers, 2, 'the nginx master has its 2 workers');
for my $w (@workers) {
    is($w->{Uid}, join("\t", ($GW_UID) x 4), "worker $w->{Pid} runs as lgsp-gw (real, effective, saved, fs)");
    is($w->{Gid}, join("\t", ($GW_GID) x 4), "worker $w->{Pid} in group lgsp-gw");
    is($w->{Groups}, $GW_GID, "worker $w->{Pid} has no other group");
}
open my $lfh, '<', "/proc/" . $t->lgspd_pid . "/status" or die;
my ($luid) = map { /^Uid:\s*(\d+)/ ? $1 : () } <$lfh>;
is($luid, (getpwnam('lgsp'))[2], 'lgspd runs as lgsp');

# the data path: a token through lgspd's socket, a call, its audit record
# ingested from the spool by lgspd (another user than the segment's writer)
my $tok = $d->token('production');
my $r = $t->http('GET', '/api/citizen/v1/people/7', headers => { Authorization => "Bearer $tok" });
is($r->{status}, 200, 'a call through the gateway');
my $txn = $r->{headers}{'x-lgsp-transaction-id'};
ok($t->wait_until(sub {
    my ($rc, $out) = $t->ctl('audit', 'list', '--json', '--transaction', $txn);
    my $recs = $rc == 0 ? eval { decode_json($out) } : undef;
    $recs && @$recs == 1;
}, 20), 'its audit record arrives');
my $st = decode_json($t->ctl_ok('status', '--json'));
is(scalar @{ $st->{snapshot}{workers} // [] }, 2, 'lgspctl status sees both workers (run/workers/)');
ok($st->{snapshot}{workers_current}, '  each on the published snapshot');

check_layout($h, 'running home');
check_mode("$h/run/lgspd.sock", 0660, 1, 'running home: run/lgspd.sock');
check_mode($_, 0660, 1, 'running home: spool/' . s{.*/}{}r) for glob "$h/spool/seg.*";
check_mode($_, 0640, 1, 'running home: run/workers/' . s{.*/}{}r) for glob "$h/run/workers/*";

# what a compromised worker can and cannot do
my @keys = glob "$h/keys/*";
my @dbs = grep { -e } map { ("$h/$_", "$h/$_-wal") } qw(lgsp.db audit.db health.db);
my ($snap) = glob "$h/snapshots/snap.*";
my $gw = as('lgsp-gw',
    (map { ("key$_" => can_read($keys[$_])) } 0 .. $#keys),
    (map { ("dbw$_" => can_rdwr($dbs[$_]), "dbr$_" => can_read($dbs[$_])) } 0 .. $#dbs),
    keys_list => can_list("$h/keys"),
    conf      => can_read("$h/lgspd.conf"),
    snap      => can_read($snap),
    current   => can_read("$h/snapshots/current"),
    snap_w    => can_write($snap),
    snap_new  => can_create("$h/snapshots"),
    spool_new => can_create("$h/spool"),
    run_new   => can_create("$h/run"),
    gen_new   => can_create("$h/run/workers"),
    home_new  => can_create($h),
    archive   => can_list("$h/archive"),
    sock      => can_connect("$h/run/lgspd.sock"),
);
cmp_ok(scalar @keys, '>=', 3, 'keys to probe: a signing key pair and the pepper');
refused($gw, "key$_", 'lgsp-gw reads ' . ($keys[$_] =~ s{.*/}{keys/}r)) for 0 .. $#keys;
refused($gw, 'keys_list', 'lgsp-gw lists keys/');
cmp_ok(scalar @dbs, '>=', 5, 'databases and WAL files to probe');
for (0 .. $#dbs) {
    my $n = $dbs[$_] =~ s{.*/}{}r;
    refused($gw, "dbw$_", "lgsp-gw opens $n for writing");
    refused($gw, "dbr$_", "lgsp-gw opens $n for reading");
}
refused($gw, 'conf', 'lgsp-gw reads lgspd.conf');
allowed($gw, 'snap', 'lgsp-gw reads a snapshot');
allowed($gw, 'current', 'lgsp-gw reads snapshots/current');
refused($gw, 'snap_w', 'lgsp-gw opens a snapshot for writing');
refused($gw, 'snap_new', 'lgsp-gw creates a file in snapshots/');
allowed($gw, 'spool_new', 'lgsp-gw creates a file in spool/');
refused($gw, 'run_new', 'lgsp-gw creates a file in run/');
allowed($gw, 'gen_new', 'lgsp-gw creates a file in run/workers/');
refused($gw, 'home_new', 'lgsp-gw creates a file in the home');
refused($gw, 'archive', 'lgsp-gw lists archive/');
# the workers proxy /oauth/token, the JWKS and /lgsp/health to lgspd: the
# socket is theirs to connect to (and lgspd checks every client itself)
allowed($gw, 'sock', 'lgsp-gw connects to run/lgspd.sock');

check_nobody($h, 'running home');
# check_nobody opened and closed folders: lgspctl init (as lgsp) agrees
my ($irc, undef, $ierr) = $t->ctl('init');
is($irc, 0, 'lgspctl init as lgsp on the running home') or diag($ierr);
check_layout($h, 'home after init as lgsp');

# the spool drains: lgspd (lgsp) deletes the segments the workers
# (lgsp-gw) sealed when they stopped
$t->stop_nginx;
ok($t->wait_until(sub { !(() = glob "$h/spool/seg.*") }, 20), 'lgspd ingests and removes the workers\' segments');

$t->stop;
done_testing;
