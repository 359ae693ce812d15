package LGSP::Test;

# The integration harness: a throwaway LGSP_HOME, the real lgspd and the
# real nginx with the built module on free loopback ports, real upstreams.
# As in nginx's own test suite, the error log must end without [alert] or
# [emerg]; TEST_NGINX_LEAVE=1 keeps the home for debugging.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA ();
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
# The build under test: LGSP_BUILD, which the Makefile exports (build-san
# for `make test SANITIZE=1`), else build/.
our $BUILD = File::Spec->rel2abs($ENV{LGSP_BUILD} // 'build', $ROOT);
$ENV{LGSP_BUILD} = $BUILD;    # scripts/mkhome: lgspctl and the module
our $CTL = "$BUILD/bin/lgspctl";
# test-only tools (Makefile TEST_TOOLS): never installed
our $SPOOLGEN = "$BUILD/t/bin/spoolgen";
our $LGSPD = "$BUILD/bin/lgspd";
# the stock nginx on PATH, or LGSP_NGINX (another build of it, to try one)
our $NGINX = $ENV{LGSP_NGINX} // 'nginx';

# A module built with ASan runs in the stock nginx only with the ASan
# runtime loaded before anything else: LGSP_PRELOAD, which the Makefile
# exports for the sanitized build.
our $PRELOAD = $ENV{LGSP_PRELOAD} // '';

# Sanitizer options as the caller gave them (the Makefile's, for the
# sanitized build); each home adds where reports go (new, stop).
my %SAN_BASE = map { $_ => $ENV{$_} // '' } qw(ASAN_OPTIONS UBSAN_OPTIONS);

my @all;    # every harness made, stopped at END

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "free_port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# new(workers => N, start => 1): make a home; start lgspd and nginx.
# control_user => 'lgsp' (as root): lgspd and lgspctl run as that user,
# who owns the home, as under the systemd units; the harness stays root.
sub new {
    my ($class, %o) = @_;
    my $self = bless {
        workers => $o{workers} // 2,
        port    => free_port(),
        pids    => {},
        ups     => [],
    }, $class;
    $self->{home} = tempdir('lgsp-t-XXXXXX', TMPDIR => 1,
                            CLEANUP => !$ENV{TEST_NGINX_LEAVE});
    # nginx workers must reach the home (DESIGN "Pitfalls": mkdtemp is
    # 0700): lgspctl init (scripts/mkhome) makes it 0750 in the workers'
    # group, lgsp-gw as root; mkhome fails, saying so, when a folder above
    # it (TMPDIR) is closed to them.
    $ENV{LGSP_HOME} = $self->{home};
    $ENV{LGSP_OPERATOR} //= 'test-operator';
    $self->_sanitizer_logs;
    local $ENV{LGSP_PORT} = $self->{port};
    local $ENV{LGSP_WORKERS} = $self->{workers};
    local $ENV{LGSP_CA_BUNDLE} = $o{ca_bundle} if $o{ca_bundle};
    system("$ROOT/scripts/mkhome") == 0 or die "mkhome failed";
    if (my $u = $o{control_user}) {
        my (undef, undef, $uid, $gid) = getpwnam($u) or die "no user $u";
        # the owner changes, the groups stay (the gateway's where they are)
        system('chown', '-R', $u, $self->{home}) == 0 or die "chown $u failed";
        $self->{as} = ['setpriv', '--reuid', $uid, '--regid', $gid, '--init-groups'];
    }
    push @all, $self;
    if ($o{start} // 1) {
        $self->start_lgspd;
        $self->start_nginx;
        $self->wait_ready or die "LGSP not ready; see $self->{home}/nginx/logs/error.log";
    }
    diag("LGSP_HOME $self->{home}") if $ENV{TEST_NGINX_LEAVE};
    return $self;
}

sub home { $_[0]{home} }
sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '') }
sub error_log { "$_[0]{home}/nginx/logs/error.log" }

# ASan and UBSan write their reports into the home's sanitizer/ instead
# of stderr: an nginx worker's stderr is the error log, and a report there
# (or in a tool's captured stderr) would pass unseen; stop() fails the test
# on any file there.  Workers run as lgsp-gw and lgspd perhaps as lgsp, so
# anyone may create files in it.  Every process the test starts from here
# on inherits the options: those of the newest home, which its stop()
# reads (a test with two homes finds each report in one of them).
sub _sanitizer_logs {
    my ($self) = @_;
    my $dir = $self->{sanitizer} = "$self->{home}/sanitizer";
    mkdir $dir or die "mkdir $dir: $!";
    chmod 01777, $dir or die "chmod $dir: $!";
    # clang's runtime reads both variables: one path in each
    for my $var (qw(ASAN_OPTIONS UBSAN_OPTIONS)) {
        $ENV{$var} = join ':', grep { length } $SAN_BASE{$var}, "log_path=$dir/report";
    }
}

# The environment nginx runs with: as every process, but without leak
# checks, which nginx's exit (pools and cycles left to the OS, workers past
# setuid) cannot pass; the module's memory errors are still caught.
sub _nginx_env {
    my $asan = $ENV{ASAN_OPTIONS} // '';
    return (ASAN_OPTIONS => join(':', grep { length } $asan, 'detect_leaks=0'),
            $PRELOAD ? (LD_PRELOAD => $PRELOAD) : ());
}

# nginx run to its end (nginx -t): ($exit, stdout and stderr together).
sub nginx_run {
    my ($self, @args) = @_;
    my %env = _nginx_env();
    local @ENV{keys %env} = values %env;
    my $pid = open(my $p, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $NGINX, @args or die "exec $NGINX: $!";
    }
    local $/;
    my $out = <$p> // '';
    close $p;
    return ($? >> 8, $out);
}

sub _spawn {
    my ($self, $name, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{home}/$name.out";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    $self->{pids}{$name} = $pid;
    return $pid;
}

sub start_lgspd {
    my ($self) = @_;
    $self->_spawn('lgspd', @{ $self->{as} // [] }, $LGSPD, '-H', $self->{home});
    # the socket appears once it listens
    $self->wait_until(sub { -S "$self->{home}/run/lgspd.sock" }, 10)
        or die "lgspd did not start: " . $self->slurp("$self->{home}/lgspd.out");
}

sub lgspd_pid { $_[0]{pids}{lgspd} }

# Stop lgspd with a signal (TERM: clean; KILL: a crash) and reap it.
sub stop_lgspd {
    my ($self, $sig) = @_;
    my $pid = delete $self->{pids}{lgspd} or return;
    kill $sig // 'TERM', $pid;
    waitpid $pid, 0;
    return $? ;
}

sub start_nginx {
    my ($self) = @_;
    my $h = $self->{home};
    my %env = _nginx_env();
    local @ENV{keys %env} = values %env;
    $self->_spawn('nginx', $NGINX, '-p', "$h/nginx", '-c', "$h/nginx/nginx.conf",
                  '-e', $self->error_log);
    $self->wait_until(sub { -s "$h/run/nginx.pid" }, 10) or die "nginx did not start";
}

sub nginx_pid { $_[0]{pids}{nginx} }

sub reload_nginx {
    my ($self) = @_;
    kill 'HUP', $self->{pids}{nginx};
}

sub stop_nginx {
    my ($self) = @_;
    my $pid = delete $self->{pids}{nginx} or return;
    kill 'QUIT', $pid;
    waitpid $pid, 0;
}

sub wait_until {
    my ($self, $cond, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        return 1 if $cond->();
        sleep 0.02;
    }
    return $cond->() ? 1 : 0;
}

sub wait_ready {
    my ($self, $timeout) = @_;
    return $self->wait_until(sub {
        my $s = eval { $self->get_json('/lgsp/status') };
        $s && $s->{ready};
    }, $timeout // 30);
}

# Run lgspctl: ($exit, $stdout, $stderr).  Input, when given, goes to stdin.
sub ctl { my ($self, @args) = @_; return $self->run_tool($CTL, @args) }

# spoolgen(ARGS): synthetic records into the spool, as a worker writes them
sub spoolgen { my ($self, @args) = @_; return $self->run_tool($SPOOLGEN, @args) }

sub run_tool {
    my ($self, $bin, @args) = @_;
    my $input = ref $args[-1] eq 'SCALAR' ? ${ pop @args } : undef;
    my $out = "$self->{home}/ctl.stdout";
    my $err = "$self->{home}/ctl.stderr";
    my $in = "$self->{home}/ctl.stdin";
    open my $fh, '>', $in or die; print $fh $input // ''; close $fh;
    my $pid = fork // die;
    if ($pid == 0) {
        open STDIN, '<', $in; open STDOUT, '>', $out; open STDERR, '>', $err;
        exec @{ $self->{as} // [] }, $bin, @args or die;
    }
    waitpid $pid, 0;
    return ($? >> 8, $self->slurp($out), $self->slurp($err));
}

# lgspctl that must succeed: returns stdout, chomped.  A change waits
# until every worker serves a snapshot that has it (settle), so the next
# request sees it; reading verbs do not wait.
sub ctl_ok {
    my ($self, @args) = @_;
    my $gen = $self->published_generation;
    my ($rc, $out, $err) = $self->ctl(@args);
    is($rc, 0, "lgspctl @args") or diag($err);
    chomp $out;
    $self->settle($gen) if $rc == 0 && !_reads_only(@args);
    return $out;
}

# lgspctl refuses (exit 1) or finds bad usage (exit 2), saying why in an
# "lgspctl: ..." line matching $want; its stderr, for more checks.
sub ctl_refused { my $self = shift; return $self->_ctl_fails(1, 'refused', @_) }
sub ctl_bad     { my $self = shift; return $self->_ctl_fails(2, 'bad usage', @_) }

sub _ctl_fails {
    my ($self, $code, $what, $want, @args) = @_;
    my ($rc, $out, $err) = $self->ctl(@args);
    is($rc, $code, "$what ($code): @args");
    like($err, qr/^lgspctl: .*$want/m, "  says why: $want") or diag($err);
    return $err;
}

sub _reads_only {
    my @words = grep { !/^-/ } @_;
    return 1 if grep { /^(list|show|status|log|export|verify|history|backup|--help)$/ } @words[0 .. ($#words < 2 ? $#words : 2)];
    return 0;
}

# The generation lgspd last published (snapshots/current: magic, u64).
sub published_generation {
    my ($self) = @_;
    open my $fh, '<:raw', "$self->{home}/snapshots/current" or return 0;
    read $fh, my $buf, 16;
    return length $buf == 16 ? unpack('Q<', substr($buf, 8, 8)) : 0;
}

# Wait until lgspd has published past $since (at most 2 s: a command may
# change nothing the snapshot carries) and every worker serves it.
sub settle {
    my ($self, $since) = @_;
    return unless $self->{pids}{lgspd} && $self->{pids}{nginx};
    $self->wait_until(sub { $self->published_generation > $since }, 2);
    my $want = $self->published_generation;
    $self->wait_until(sub {
        my $s = eval { $self->get_json('/lgsp/status') } or return 0;
        my @w = @{ $s->{workers} // [] };
        @w && !grep { ($_->{generation} // 0) != $want } @w;
    }, 3);
}

sub slurp {
    my ($self, $path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# lgspd_conf(KEY => VALUE, ...): those lines in this home's lgspd.conf, any
# earlier line of each key removed; lgspd reads them when it next starts.
sub lgspd_conf {
    my ($self, %kv) = @_;
    my $file = "$self->{home}/lgspd.conf";
    my $c = $self->slurp($file);
    for my $k (sort keys %kv) {
        $c =~ s/^\Q$k\E\s.*\n//mg;
        $c .= "$k $kv{$k}\n";
    }
    open my $f, '>', $file or die "$file: $!";    # keeps the file's mode
    print $f $c;
    close $f or die "$file: $!";
}

# One query against this home's audit.db through the sqlite3 shell: its
# output without the last newline ('' when there is none).
sub audit_sql {
    my ($self, $q) = @_;
    open my $p, '-|', 'sqlite3', "$self->{home}/audit.db", $q
        or die "sqlite3: $!";
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

# What a forger without the key does (docs/audit.md "Hash chain"): the
# hash of every record from seq FROM on recomputed with plain SHA-256, and
# the chain's head moved onto it.  Returns the new head (hex).
my @AUDIT_COLS = qw(seq transaction_id request_id start_ms duration_us
    upstream_duration_us consumer_org consumer_system client_id provider_org
    provider_system service version environment method route status
    upstream_status bytes_in bytes_out result reason generation ingested_ms);
my %AUDIT_TEXT = map { $_ => 1 } qw(transaction_id request_id consumer_org
    consumer_system client_id provider_org provider_system service version
    environment method route result reason);

sub audit_rehash {
    my ($self, $from) = @_;
    my $prev = pack('H*', $self->audit_sql("SELECT hex(hash) FROM audit_records"
                                           . " WHERE seq = " . ($from - 1)));
    my $rows = JSON::PP::decode_json($self->audit_sql("SELECT json_group_array("
        . "json_object(" . join(', ', map { "'$_', $_" } @AUDIT_COLS) . "))"
        . " FROM (SELECT * FROM audit_records WHERE seq >= $from ORDER BY seq)"));
    my $script = "BEGIN;\n";
    for my $r (@$rows) {
        my $bytes = $prev;
        for my $c (@AUDIT_COLS) {
            $bytes .= $AUDIT_TEXT{$c} ? pack('N', length $r->{$c}) . $r->{$c}
                                      : pack('q>', $r->{$c});
        }
        $prev = Digest::SHA::sha256($bytes);
        $script .= "UPDATE audit_records SET hash = X'" . unpack('H*', $prev)
                 . "' WHERE seq = $r->{seq};\n";
    }
    my $head = unpack('H*', $prev);
    my $last = @$rows ? $rows->[-1]{seq} : $from - 1;
    $self->audit_sql($script . "UPDATE audit_chain SET head_seq = $last,"
                     . " head_hash = X'$head';\nCOMMIT;\n");
    return $head;
}

sub http {
    my ($self, $method, $path, %o) = @_;
    my $ua = $self->{ua} //= HTTP::Tiny->new(timeout => 10, keep_alive => 1);
    return $ua->request($method, $path =~ m{^https?://} ? $path : $self->url($path), \%o);
}

sub get_json {
    my ($self, $path, %o) = @_;
    my $r = $self->http('GET', $path, %o);
    return eval { decode_json($r->{content}) };
}

# The gateway's own refusal (SPEC §4): the status, the JSON envelope with
# the error, and one transaction id in the body and the header.  A plain
# function: LGSP::Test::envelope($r, 403, 'no_grant', 'name').
sub envelope {
    my ($r, $status, $error, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{content});
    my $j = eval { decode_json($r->{content}) } // {};
    is($j->{error}, $error, "$name: error $error");
    is($j->{status}, '01', "$name: status 01");
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
    ok(length($j->{transaction_id} // '') >= 16, "$name: transaction id")
        && is($j->{transaction_id}, $r->{headers}{'x-lgsp-transaction-id'},
              "$name: same id in header and body");
    return $j;
}

# A request sent byte for byte, for what HTTP::Tiny would fix or refuse
# (raw paths, malformed lines, other methods and versions): the answer as
# http() gives it, header names in lower case.  The request should end the
# connection (Connection: close), or nginx does after an error.
sub raw {
    my ($self, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Timeout => 10) or die "raw: $!";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/\d\.\d (\d+)};
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k, $v) } grep { /:/ } split /\r\n/, $head;
    return { status => $status // 0, headers => \%h, content => $body // '' };
}

# A real HTTP/1.1 upstream with keepalive, in a child process.  Each
# request is answered by $handler->(\%req) returning (status, \%headers,
# body), or by default with a JSON echo of the request.  Every accepted
# connection is counted in a file, for keepalive checks.
sub upstream {
    my ($self, $handler) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', Listen => 128, ReuseAddr => 1)
        or die "upstream: $!";
    my $port = $listen->sockport;
    my $conns = "$self->{home}/upstream-$port.conns";
    open my $c, '>', $conns; close $c;
    my $pid = fork // die;
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $s = $listen->accept or next;
            open my $fh, '>>', $conns; print $fh "1\n"; close $fh;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                close $listen;
                _serve($s, $handler);
                POSIX::_exit(0);
            }
            close $s;
        }
    }
    close $listen;
    push @{ $self->{ups} }, $pid;
    return { url => "http://127.0.0.1:$port", port => $port,
             conns => sub { my @l = split /\n/, $self->slurp($conns); scalar @l } };
}

sub _serve {
    my ($s, $handler) = @_;
    local $/ = "\r\n";
    while (1) {
        my $line = <$s> // return;
        chomp $line;
        my ($method, $uri) = split / /, $line;
        my %h;
        while (my $l = <$s>) {
            $l =~ s/\r\n$//;
            last if $l eq '';
            my ($k, $v) = split /:\s*/, $l, 2;
            $k = lc $k;
            $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        }
        my $body = '';
        if (my $len = $h{'content-length'}) {
            read $s, $body, $len;
        }
        my $req = { method => $method, uri => $uri, headers => \%h, body => $body };
        my ($status, $hdrs, $out) = $handler ? $handler->($req)
            : (200, { 'Content-Type' => 'application/json' },
               encode_json({ method => $method, uri => $uri, headers => \%h,
                             body_length => length $body }));
        $hdrs->{'Content-Length'} = length $out;
        my $head = "HTTP/1.1 $status X\r\n";
        $head .= "$_: $hdrs->{$_}\r\n" for sort keys %$hdrs;
        print $s $head, "\r\n", $out;
        return if ($h{connection} // '') =~ /close/i;
    }
}

# Stop everything and check the error log, as nginx's tests do.
sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    $self->stop_nginx;
    $self->stop_lgspd('TERM');
    kill 'KILL', @{ $self->{ups} } if @{ $self->{ups} };
    waitpid $_, 0 for @{ $self->{ups} };
    my $log = $self->slurp($self->error_log);
    my @bad = grep { /\[(alert|emerg)\]/ } split /\n/, $log;
    # a test that kills a worker on purpose expects the master's alert
    if (my $ok = $self->{expect_alert}) {
        @bad = grep { !/$ok/ } @bad;
    }
    ok(!@bad, 'no [alert] or [emerg] in the error log') or diag(join "\n", @bad);
    my @reports = sort glob("$self->{sanitizer}/*");
    ok(!@reports, 'no sanitizer report')
        or diag(join "\n", map { "$_:\n" . $self->slurp($_) } @reports);
}

END {
    my $rc = $?;
    $_->stop for @all;
    $? = $rc;
}

1;
